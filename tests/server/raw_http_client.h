// A raw HTTP/1.1 client connection for tests of the server's framing: it sends exactly the
// bytes it is given (partial requests, bad framing, pipelined requests, a byte at a time)
// and reads responses with Beast's response parser, one at a time and in order. Blocking,
// with a receive timeout as a safety net (a hung server fails the test instead of hanging
// it). Not thread-safe.
#ifndef GPUFIT_TESTS_SERVER_RAW_HTTP_CLIENT_H_
#define GPUFIT_TESTS_SERVER_RAW_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>

#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"

namespace gpufit::testing {

class RawHttpConnection {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  explicit RawHttpConnection(int port, int safety_net_seconds = 60) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    timeval tv{safety_net_seconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  ~RawHttpConnection() { Close(); }
  RawHttpConnection(const RawHttpConnection&) = delete;
  RawHttpConnection& operator=(const RawHttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // False once the server has closed (or reset) the connection.
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // The next response; nullopt if the connection ends first (or the safety net fires).
  std::optional<Response> Read() {
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.eager(true);
    parser.body_limit(1u << 30);
    for (;;) {
      if (buffer_.size() > 0) {
        boost::beast::error_code ec;
        const size_t used = parser.put(buffer_.data(), ec);
        buffer_.consume(used);
        if (parser.is_done()) return parser.release();
        if (ec && ec != boost::beast::http::error::need_more) return std::nullopt;
        if (used > 0 && buffer_.size() > 0) continue;
      }
      if (!Receive()) {
        if (parser.is_header_done() && parser.need_eof()) {
          boost::beast::error_code ec;
          parser.put_eof(ec);
          if (!ec && parser.is_done()) return parser.release();
        }
        return std::nullopt;
      }
    }
  }

  // True if the server closes the connection without sending anything more (EOF or reset
  // before the safety net); what arrives meanwhile is dropped.
  bool AwaitClosedByServer() {
    buffer_.consume(buffer_.size());
    for (;;) {
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  bool Receive() {
    auto space = buffer_.prepare(64 * 1024);
    const ssize_t n = recv(fd_, space.data(), space.size(), 0);
    if (n <= 0) return false;
    buffer_.commit(static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  boost::beast::flat_buffer buffer_;
};

}  // namespace gpufit::testing

#endif  // GPUFIT_TESTS_SERVER_RAW_HTTP_CLIENT_H_
