#ifndef MIDWIFE_BOOTSERVER_HTTP_HTTP_SERVER_H_
#define MIDWIFE_BOOTSERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "bootserver/http/http_message.h"

namespace midwife::bootserver {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 80;  // 0: any free port (tests).
  // Open connections at most; more are closed as soon as they are accepted,
  // without an answer. (No flag sets it: the daemon keeps this default.)
  size_t max_connections = 10000;
  // Request line and header fields together; more get 431.
  size_t max_header_bytes = 16 * 1024;
  // Largest request body (a host's state upload), 64 MiB; more gets 413, at
  // once when Content-Length declares it.
  uint64_t max_body_bytes = 64ull << 20;
  // A read or write that makes no progress for this long ends the connection,
  // so a slow or silent client holds nothing for long.
  std::chrono::seconds io_timeout{30};
  // Threads for handlers that may block (state store round trips).
  int blocking_threads = 8;
  // Where each connection runs; empty: the acceptor's io_context. The
  // daemon spreads connections over single-threaded io_contexts, one per
  // core, as nginx spreads them over workers: no thread wake-ups inside a
  // request. REQUIRES: each io_context a connection runs on (this one's, or
  // the acceptor's) is run by one thread only: a connection's operations
  // take no strand.
  std::function<boost::asio::io_context::executor_type()> session_executor;
};

struct HttpCounters {
  // Closed at once: max_connections were open.
  std::atomic<uint64_t> connections_refused{0};
  // accept() failures; out of descriptors or memory, accepting pauses
  // kAcceptPause each time instead of failing again at once.
  std::atomic<uint64_t> accept_errors{0};
};

// `try_handle`, when set, runs first, on the connection's I/O thread: it
// answers, or declines (nullopt) a request whose answer may wait on
// something slow (a store round trip, a first read of a file). `handle`
// answers what it declined, on a separate pool of threads; without a
// try_handle, `handle` answers everything on the I/O thread. Both must be
// thread-safe.
struct HttpHandlers {
  std::function<HttpResponse(const HttpRequest&)> handle;
  std::function<std::optional<HttpResponse>(const HttpRequest&)> try_handle;
};

// HTTP/1.1 on Boost.Asio, parsing requests with Beast: keep-alive, request
// size limits, timeouts, and file bodies sent with sendfile(2) (no copy
// through user space).
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandlers handlers);
  ~HttpServer();

  // Binds and starts accepting. The bound port is port() afterwards.
  absl::Status Start();
  void Stop();
  uint16_t port() const { return port_; }
  const HttpCounters& counters() const;

  // How long accepting pauses after running out of descriptors (EMFILE,
  // ENFILE) or kernel memory: the connection stays queued, so accepting again
  // at once would fail again at once, a busy loop on the thread that also
  // answers DHCP. nginx pauses likewise (500 ms).
  static constexpr std::chrono::milliseconds kAcceptPause{100};

 private:
  struct Shared;
  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  uint16_t port_ = 0;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_HTTP_SERVER_H_
