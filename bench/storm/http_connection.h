#ifndef MIDWIFE_BENCH_STORM_HTTP_CONNECTION_H_
#define MIDWIFE_BENCH_STORM_HTTP_CONNECTION_H_

// One keep-alive HTTP/1.1 connection, as iPXE and mboot use one: requests in
// sequence, bodies either kept (scripts, boot.cfg, state) or only counted
// (image modules). Coroutines on the caller's executor (a strand).

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace midwife::bench {

struct HttpReply {
  int status = 0;
  std::string body;         // Empty unless kept.
  uint64_t body_bytes = 0;  // Counted either way.
};

class HttpConnection {
 public:
  HttpConnection(boost::asio::any_io_executor executor, uint16_t port,
                 std::chrono::seconds timeout);

  // GET `target`; the body is kept when `keep_body`.
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Get(std::string target, bool keep_body);
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Post(
      std::string target, std::string body,
      std::vector<std::pair<std::string, std::string>> headers);

 private:
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Exchange(
      std::string method, std::string target, std::string body,
      std::vector<std::pair<std::string, std::string>> headers, bool keep_body);
  boost::asio::awaitable<absl::Status> EnsureConnected();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  uint16_t port_;
  std::chrono::seconds timeout_;
  bool connected_ = false;
};

// The path of an absolute "http://host:port/path" URL (the servers here are
// all on the one port a stack listens on), or the text itself if it is a path.
std::string UrlPath(const std::string& url);

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_HTTP_CONNECTION_H_
