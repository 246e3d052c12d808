#include "config/prometheus_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/yaml_reader.h"

namespace gpufit::config {
namespace {

using internal::AsAbsl;

constexpr int kHttpPort = 80;
constexpr int kHttpsPort = 443;

absl::Status NotAUrl(std::string_view url, std::string_view why = "") {
  return absl::InvalidArgumentError(
      absl::StrCat("must be a Prometheus URL (http://HOST:PORT or https://HOST[:PORT][/PATH])",
                   why.empty() ? "" : ": ", AsAbsl(why), "; got '", AsAbsl(url), "'"));
}

// RFC 3986 unreserved characters: the only ones allowed in a host name or path segment, so
// that no percent-decoding or other normalisation is ever needed to compare two URLs.
bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

bool Ipv6Char(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':'; }

}  // namespace

std::string PrometheusUrl::Canonical() const {
  const std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(https ? "https" : "http", "://", h, ":", port, path_prefix);
}

std::string PrometheusUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  if (port != (https ? kHttpsPort : kHttpPort)) absl::StrAppend(&h, ":", port);
  return h;
}

absl::StatusOr<PrometheusUrl> ParsePrometheusUrl(std::string_view url) {
  if (url.size() > kMaxPrometheusUrlBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be a URL of at most ", kMaxPrometheusUrlBytes, " characters; got ", url.size()));
  }
  PrometheusUrl out;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return NotAUrl(url);
  const std::string scheme = absl::AsciiStrToLower(AsAbsl(url.substr(0, scheme_end)));
  if (scheme != "http" && scheme != "https") return NotAUrl(url);
  out.https = scheme == "https";

  const std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    // Not echoed: the part before '@' may be a password.
    return absl::InvalidArgumentError(
        "must not carry userinfo (user:password@...): gpufitd sends no credentials to "
        "Prometheus");
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return NotAUrl(url, "a base URL has no query (?) or fragment (#)");
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return NotAUrl(url, "unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return NotAUrl(url, "unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return NotAUrl(url, "empty port");
    }
    if (host.find(':') == std::string_view::npos || !AllOf(host, &Ipv6Char)) {
      return NotAUrl(url, "the host in [] must be an IPv6 address");
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return NotAUrl(url, "empty port");
  }
  if (host.empty()) return NotAUrl(url, "no host");
  if (authority.front() != '[' && !AllOf(host, &Unreserved)) {
    return NotAUrl(url, "the host may hold only letters, digits, '-', '.', '_' and '~'");
  }
  out.host = absl::AsciiStrToLower(AsAbsl(host));
  out.port = out.https ? kHttpsPort : kHttpPort;
  if (!port.empty()) {
    int n = 0;
    if (!AllOf(port, [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
        port.size() > 5 || !absl::SimpleAtoi(AsAbsl(port), &n) || n < 1 || n > 65535) {
      return NotAUrl(url, "the port must be 1-65535");
    }
    out.port = n;
  }

  std::string_view prefix = path;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (!prefix.empty()) {
    for (absl::string_view part : absl::StrSplit(AsAbsl(prefix.substr(1)), '/')) {
      const std::string_view segment(part.data(), part.size());
      if (segment.empty() || segment == "." || segment == ".." || !AllOf(segment, &Unreserved)) {
        return NotAUrl(url,
                       "the path may hold only segments of letters, digits, '-', '.', '_' and "
                       "'~' (no '//', '.' or '..' segments, no percent-encoding)");
      }
    }
  }
  out.path_prefix = std::string(prefix);
  return out;
}

absl::StatusOr<std::string> MatchPrometheusServer(const std::vector<std::string>& allowed,
                                                  std::string_view address) {
  absl::StatusOr<PrometheusUrl> url = ParsePrometheusUrl(address);
  if (!url.ok()) return url.status();
  const std::string wanted = url->Canonical();
  for (const std::string& server : allowed) {
    absl::StatusOr<PrometheusUrl> a = ParsePrometheusUrl(server);
    if (a.ok() && a->Canonical() == wanted) return server;
  }
  if (allowed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", AsAbsl(address),
        "' is not a Prometheus server gpufitd may query: its config lists none (add the "
        "server to prometheus.servers)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", AsAbsl(address),
      "' is not a Prometheus server gpufitd may query (prometheus.servers in its config: ",
      absl::StrJoin(allowed, ", "), ")"));
}

}  // namespace gpufit::config
