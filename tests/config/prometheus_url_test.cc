// Prometheus base URLs (config/prometheus_url.h): what is accepted and how it is normalised,
// what is refused because two parsers could disagree about where it points, and matching a
// caller's URL against the allow-list.
#include "config/prometheus_url.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpufit::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string CanonicalOf(const std::string& url) {
  absl::StatusOr<PrometheusUrl> u = ParsePrometheusUrl(url);
  return u.ok() ? u->Canonical() : "error: " + std::string(u.status().message());
}

TEST(PrometheusUrlTest, NormalisesSchemeHostPortAndPath) {
  EXPECT_EQ(CanonicalOf("http://prom:9090"), "http://prom:9090");
  EXPECT_EQ(CanonicalOf("HTTP://Prom.Monitoring:9090/"), "http://prom.monitoring:9090");
  EXPECT_EQ(CanonicalOf("http://prom"), "http://prom:80");
  EXPECT_EQ(CanonicalOf("https://thanos.example/prometheus///"),
            "https://thanos.example:443/prometheus");
  EXPECT_EQ(CanonicalOf("https://thanos.example:8443/a/b"), "https://thanos.example:8443/a/b");
  EXPECT_EQ(CanonicalOf("http://10.0.0.7:9090"), "http://10.0.0.7:9090");
  EXPECT_EQ(CanonicalOf("http://[::1]:9090"), "http://[::1]:9090");
  EXPECT_EQ(CanonicalOf("http://[FD00::1]"), "http://[fd00::1]:80");
  EXPECT_EQ(CanonicalOf("http://prom:09090"), "http://prom:9090");
}

TEST(PrometheusUrlTest, HostHeaderOmitsTheDefaultPort) {
  EXPECT_EQ(ParsePrometheusUrl("http://prom")->HostHeader(), "prom");
  EXPECT_EQ(ParsePrometheusUrl("https://prom:443/x")->HostHeader(), "prom");
  EXPECT_EQ(ParsePrometheusUrl("http://prom:9090")->HostHeader(), "prom:9090");
  EXPECT_EQ(ParsePrometheusUrl("http://[::1]:9090")->HostHeader(), "[::1]:9090");
}

TEST(PrometheusUrlTest, RefusesWhatCouldPointElsewhere) {
  struct Case {
    std::string url;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"prom:9090", "must be a Prometheus URL"},
           {"ftp://prom", "must be a Prometheus URL"},
           {"http://", "no host"},
           {"http:///x", "no host"},
           {"http://:9090", "no host"},
           {"http://prom:", "empty port"},
           {"http://prom:0", "the port must be 1-65535"},
           {"http://prom:65536", "the port must be 1-65535"},
           {"http://prom:9x", "the port must be 1-65535"},
           {"http://prom:-1", "the port must be 1-65535"},
           {"http://a:b:9090", "the host may hold only"},
           {"http://prom:9090?x=1", "no query (?) or fragment (#)"},
           {"http://prom:9090/p#frag", "no query (?) or fragment (#)"},
           {"http://prom%2ecom:9090", "the host may hold only"},
           {"http://pr om:9090", "the host may hold only"},
           {"http://prom:9090/a/../b", "no '//', '.' or '..' segments"},
           {"http://prom:9090/./b", "no '//', '.' or '..' segments"},
           {"http://prom:9090/a//b", "no '//', '.' or '..' segments"},
           {"http://prom:9090/%2e%2e", "no percent-encoding"},
           {"http://prom:9090/a\\b", "no percent-encoding"},
           {"http://[::1", "unclosed '['"},
           {"http://[::1]x", "unexpected text after the IPv6 address"},
           {"http://[prom]:80", "must be an IPv6 address"},
           {"http://[fe80::1%25eth0]", "must be an IPv6 address"},
           {"http://" + std::string(3000, 'a'), "at most 2048 characters"},
       }) {
    absl::StatusOr<PrometheusUrl> u = ParsePrometheusUrl(c.url);
    ASSERT_FALSE(u.ok()) << c.url << " -> " << u->Canonical();
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(u.status().message()), HasSubstr(c.message)) << c.url;
  }
}

// user:password@ is refused, and the password is not repeated in the message (it ends up in
// gRPC answers and logs).
TEST(PrometheusUrlTest, UserinfoIsRefusedWithoutEchoingIt) {
  for (const std::string url :
       {"http://admin:s3cret@prom:9090", "http://prom:9090@evil:80", "https://s3cret@prom/x"}) {
    absl::StatusOr<PrometheusUrl> u = ParsePrometheusUrl(url);
    ASSERT_FALSE(u.ok()) << url;
    EXPECT_THAT(std::string(u.status().message()), StartsWith("must not carry userinfo"));
    EXPECT_THAT(std::string(u.status().message()), Not(HasSubstr("s3cret")));
  }
}

TEST(PrometheusUrlTest, MatchesOnlyListedServersAndReturnsTheListedText) {
  const std::vector<std::string> allowed = {"http://prometheus.monitoring:9090",
                                            "https://thanos.example/prometheus/"};
  EXPECT_EQ(*MatchPrometheusServer(allowed, "HTTP://Prometheus.Monitoring:9090/"),
            "http://prometheus.monitoring:9090");
  EXPECT_EQ(*MatchPrometheusServer(allowed, "https://thanos.example:443/prometheus"),
            "https://thanos.example/prometheus/");
  for (const std::string other :
       {"http://prometheus.monitoring:9091", "https://prometheus.monitoring:9090",
        "http://prometheus.monitoring:9090/federate", "http://prometheus.monitoring",
        "https://thanos.example/", "https://thanos.example/prometheus/api",
        "http://prometheus.monitoring.evil:9090", "http://169.254.169.254/latest"}) {
    absl::StatusOr<std::string> m = MatchPrometheusServer(allowed, other);
    ASSERT_FALSE(m.ok()) << other;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message(),
              "'" + other +
                  "' is not a Prometheus server gpufitd may query (prometheus.servers in its "
                  "config: http://prometheus.monitoring:9090, https://thanos.example/prometheus/)");
  }
  EXPECT_THAT(std::string(MatchPrometheusServer({}, "http://prom:9090").status().message()),
              HasSubstr("its config lists none (add the server to prometheus.servers)"));
  EXPECT_THAT(std::string(MatchPrometheusServer(allowed, "http://u:p@prometheus.monitoring:9090")
                              .status()
                              .message()),
              StartsWith("must not carry userinfo"));
}

}  // namespace
}  // namespace gpufit::config
