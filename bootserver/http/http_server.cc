#include "bootserver/http/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bootserver/http/http_request_adapter.h"
#include "bootserver/http/http_response_head.h"
#include "bootserver/http/tcp_cork.h"
#include "bootserver/listen_address.h"
#include "core/log.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Connections run on concrete io_context executors, not any_io_executor:
// the type-erased executor's copies and property queries showed in the
// profile of every request.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T>
using Task = asio::awaitable<T, Executor>;
constexpr asio::use_awaitable_t<Executor> kUseTask;

using RequestParser = http::request_parser<http::string_body>;

// After answering and half-closing, reads and drops what the client still
// sends until it closes, goes quiet for kLingerIdle, or kLingerTotal has
// passed. Closing a socket with unread bytes makes the kernel send a reset,
// which discards whatever of the answer is still unsent or unread: a client
// that sent a body the server refused (413) would see the connection reset
// instead of the reason. nginx's lingering close does the same.
constexpr auto kLingerIdle = std::chrono::seconds(2);
constexpr auto kLingerTotal = std::chrono::seconds(10);

// A connection and its deadline. A watchdog (Watch) closes the socket once
// the deadline passes unmoved, which ends whatever operation the session was
// waiting in. Moving the deadline is a store: one timer wait per timeout
// period, not a timer armed and cancelled around every read and write.
struct Connection {
  explicit Connection(Socket s) : socket(std::move(s)), watchdog(socket.get_executor()) {}

  void ExpireAfter(std::chrono::steady_clock::duration d) {
    deadline = std::chrono::steady_clock::now() + d;
    // Earlier than the watchdog's wake-up: wake it to wait for this one.
    if (deadline < armed) watchdog.cancel();
  }

  Socket socket;
  Timer watchdog;
  std::chrono::steady_clock::time_point deadline{};
  std::chrono::steady_clock::time_point armed = std::chrono::steady_clock::time_point::max();
  bool timed_out = false;
  bool done = false;  // The session ended: the watchdog stops.
};

// While a handler runs on the blocking pool, the client is not the one
// keeping the connection waiting: no deadline, in effect.
constexpr auto kNoDeadline = std::chrono::hours(24);
// Files from this size on are sent corked (see Send): larger than one
// sendfile call into a fresh connection's socket buffer usually takes.
constexpr uint64_t kCorkFilesFrom = 256 * 1024;

Task<void> Watch(std::shared_ptr<Connection> c) {
  while (!c->done) {
    c->armed = c->deadline;
    c->watchdog.expires_at(c->armed);
    boost::system::error_code ec;
    co_await c->watchdog.async_wait(asio::redirect_error(kUseTask, ec));
    if (c->done) co_return;
    if (std::chrono::steady_clock::now() >= c->deadline) {
      c->timed_out = true;
      c->socket.close(ec);
      co_return;
    }
  }
}

// Waits until the socket can take more bytes, within `timeout`.
Task<bool> WaitWritable(Connection& c, std::chrono::steady_clock::duration timeout) {
  boost::system::error_code ec;
  c.ExpireAfter(timeout);
  co_await c.socket.async_wait(tcp::socket::wait_write, asio::redirect_error(kUseTask, ec));
  co_return !ec && !c.timed_out;
}

// Writes all of `buffers` with `flags` (MSG_MORE: more follows at once),
// straight from this thread while the socket takes them and waiting only
// when it is full: an answer that fits in the socket buffer costs one
// system call and no trip through the scheduler.
Task<bool> SendAll(Connection& c, std::array<iovec, 2> buffers, int flags,
                   std::chrono::steady_clock::duration timeout) {
  msghdr message{};
  message.msg_iov = buffers.data();
  message.msg_iovlen = buffers.size();
  while (message.msg_iovlen > 0) {
    if (message.msg_iov->iov_len == 0) {
      ++message.msg_iov;
      --message.msg_iovlen;
      continue;
    }
    const ssize_t n = ::sendmsg(c.socket.native_handle(), &message, flags | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!co_await WaitWritable(c, timeout)) co_return false;
      continue;
    }
    if (n < 0) co_return false;
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      const size_t taken = std::min(left, message.msg_iov->iov_len);
      message.msg_iov->iov_base = static_cast<char*>(message.msg_iov->iov_base) + taken;
      message.msg_iov->iov_len -= taken;
      left -= taken;
      if (message.msg_iov->iov_len == 0) {
        ++message.msg_iov;
        --message.msg_iovlen;
      }
    }
  }
  co_return true;
}

// sendfile(2) from the page cache straight to the socket; waits for the
// socket to drain instead of blocking an I/O thread.
Task<bool> SendFile(Connection& c, const FileRange& range,
                    std::chrono::steady_clock::duration timeout) {
  off_t offset = static_cast<off_t>(range.offset);
  uint64_t remaining = range.length;
  while (remaining > 0) {
    ssize_t n = ::sendfile(c.socket.native_handle(), range.file->fd(), &offset,
                           std::min<uint64_t>(remaining, 1 << 30));
    if (n > 0) {
      remaining -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!co_await WaitWritable(c, timeout)) co_return false;
      continue;
    }
    co_return false;  // The file shrank or the peer is gone.
  }
  co_return true;
}

iovec Iovec(std::string_view bytes) {
  return iovec{const_cast<char*>(bytes.data()), bytes.size()};
}

Task<void> Linger(Connection& c) {
  const auto until = std::chrono::steady_clock::now() + kLingerTotal;
  std::array<char, 16 * 1024> scratch;
  boost::system::error_code ec;
  while (!ec && !c.timed_out && std::chrono::steady_clock::now() < until) {
    c.ExpireAfter(std::min<std::chrono::steady_clock::duration>(
        kLingerIdle, until - std::chrono::steady_clock::now()));
    co_await c.socket.async_read_some(asio::buffer(scratch), asio::redirect_error(kUseTask, ec));
  }
}

// Reads a request's header into `parser`: header_limit (431) once it holds
// more than `max_bytes` in all. Beast's own header_limit bounds only the part
// of the header not yet parsed (Boost 1.74 forgets the fields it has parsed),
// so a client sending many small fields a few at a time could grow a header
// without end; here every byte the parser takes is counted. Beast's bound
// stays set too: it keeps one unparsed field from growing past `max_bytes`.
// The same errors as http::async_read otherwise (end_of_stream when the
// client closed between requests).
Task<void> ReadHeader(Connection& c, beast::flat_buffer& buffer, RequestParser& parser,
                      size_t max_bytes, boost::system::error_code& ec) {
  size_t parsed = 0;
  for (;;) {
    if (buffer.size() > 0) {
      const size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      parsed += used;
      if (parsed > max_bytes) ec = http::error::header_limit;
      if (ec != http::error::need_more) co_return;  // The header, or an error.
      ec = {};
    }
    auto space = buffer.prepare(beast::read_size(buffer, 65536));
    const size_t n =
        co_await c.socket.async_read_some(space, asio::redirect_error(kUseTask, ec));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) {
        ec = http::error::end_of_stream;
      } else {
        ec = {};
        parser.put_eof(ec);  // partial_message: it ended inside the header.
      }
      co_return;
    }
    if (ec) co_return;
  }
}

// One place under max_connections, taken when a connection is accepted and
// given back when its session ends (or never starts). Taken in the accept
// loop, not when the session first runs on its own thread: otherwise a burst
// of connections is accepted before any of them is counted.
// The slot owns (a share of) the counter it decrements: GCC 12 destroys a
// coroutine's parameters in the order they were declared, so a session's
// slot outlived the `self` that kept the server's state alive (ASan: a
// use-after-free when the last session ended after the server).
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<std::atomic<size_t>> open) : open_(std::move(open)) {
    ++*open_;
  }
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() {
    if (open_ != nullptr) --*open_;
  }

 private:
  std::shared_ptr<std::atomic<size_t>> open_;
};

}  // namespace

struct HttpServer::Shared {
  HttpServerOptions options;
  HttpHandlers handlers;
  tcp::acceptor acceptor;
  asio::thread_pool blocking_pool;
  std::atomic<size_t> connections{0};
  HttpCounters counters;
  std::atomic<bool> stopping{false};

  Shared(asio::io_context& io, HttpServerOptions o, HttpHandlers h)
      : options(std::move(o)),
        handlers(std::move(h)),
        acceptor(io),
        blocking_pool(static_cast<size_t>(std::max(1, options.blocking_threads))) {}

  Task<void> Accept(std::shared_ptr<Shared> self);
  Task<void> Session(std::shared_ptr<Shared> self, Socket socket, ConnectionSlot slot);
  Task<HttpResponse> Answer(Connection& c, const HttpRequest& request);
  Task<bool> Send(Connection& c, HttpResponse& response, bool keep_alive);
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandlers handlers)
    : io_(io), shared_(std::make_shared<Shared>(io, std::move(options), std::move(handlers))) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  auto address = ParseListenAddress("HTTP", shared_->options.address);
  if (!address.ok()) return address.status();
  boost::system::error_code ec;
  tcp::endpoint endpoint(*address, shared_->options.port);
  auto& acceptor = shared_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ",
                                               shared_->options.address, ":", shared_->options.port,
                                               ": ", ec.message()));
  }
  port_ = acceptor.local_endpoint().port();
  asio::co_spawn(io_.get_executor(), shared_->Accept(shared_), asio::detached);
  return absl::OkStatus();
}

const HttpCounters& HttpServer::counters() const { return shared_->counters; }

void HttpServer::Stop() {
  if (shared_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  shared_->blocking_pool.join();
}

Task<void> HttpServer::Shared::Accept(std::shared_ptr<Shared> self) {
  const Executor executor = co_await asio::this_coro::executor;
  while (!stopping) {
    boost::system::error_code ec;
    const Executor session = options.session_executor ? options.session_executor() : executor;
    Socket socket =
        co_await acceptor.async_accept(session, asio::redirect_error(kUseTask, ec));
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      ++counters.accept_errors;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        Timer pause(executor, kAcceptPause);
        co_await pause.async_wait(asio::redirect_error(kUseTask, ec));
      }
      continue;  // A connection aborted before its accept, and the like.
    }
    // Only this loop takes places, so the check and the take cannot race.
    if (connections.load() >= options.max_connections) {
      ++counters.connections_refused;
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    ConnectionSlot slot(std::shared_ptr<std::atomic<size_t>>(self, &connections));
    asio::co_spawn(session, Session(self, std::move(socket), std::move(slot)), asio::detached);
  }
}

Task<HttpResponse> HttpServer::Shared::Answer(Connection& c, const HttpRequest& request) {
  if (!handlers.try_handle) co_return handlers.handle(request);
  if (std::optional<HttpResponse> at_once = handlers.try_handle(request)) {
    co_return *std::move(at_once);
  }
  // Run on the blocking pool, so a slow store never stalls I/O. (A co_await
  // of post(pool) would not do: its completion runs on the coroutine's own
  // executor, so the handler would block the I/O thread after all.) The
  // coroutine resumes on its I/O thread.
  c.ExpireAfter(kNoDeadline);
  HttpResponse response = co_await asio::co_spawn(
      blocking_pool,
      [&]() -> asio::awaitable<HttpResponse> { co_return handlers.handle(request); }, kUseTask);
  c.ExpireAfter(options.io_timeout);
  co_return response;
}

Task<bool> HttpServer::Shared::Send(Connection& c, HttpResponse& response, bool keep_alive) {
  const std::string head = SerializeResponseHead(response, keep_alive);
  if (response.file && !response.head_only) {
    // A large file is sent corked from its head to its last byte (TcpCork):
    // full segments only, however the sendfile calls fall. One wire-speed
    // stream on loopback: 0.98-1.00x nginx corked, 0.79-0.84x not. A small
    // one leaves in one sendfile call and is not worth the two extra
    // system calls; its head goes with MSG_MORE instead, so it leaves in the
    // same segment as the file's first bytes (the client wakes once, not
    // twice), and sendfile's last bytes push it.
    std::optional<TcpCork> cork;
    if (response.file->length >= kCorkFilesFrom) cork.emplace(c.socket.native_handle());
    const int more = response.file->length > 0 ? MSG_MORE : 0;
    co_return co_await SendAll(c, {Iovec(head), iovec{}}, more, options.io_timeout) &&
        co_await SendFile(c, *response.file, options.io_timeout);
  }
  const std::string_view body = response.head_only ? std::string_view() : response.body;
  co_return co_await SendAll(c, {Iovec(head), Iovec(body)}, 0, options.io_timeout);
}

Task<void> HttpServer::Shared::Session([[maybe_unused]] std::shared_ptr<Shared> self,
                                       Socket socket, [[maybe_unused]] ConnectionSlot slot) {
  boost::system::error_code ec;
  std::string remote = socket.remote_endpoint(ec).address().to_string();
  // The answers are written with plain system calls (SendAll, SendFile),
  // which need the descriptor non-blocking; set once per connection.
  socket.non_blocking(true, ec);
  auto c = std::make_shared<Connection>(std::move(socket));
  c->ExpireAfter(options.io_timeout);
  asio::co_spawn(c->socket.get_executor(), Watch(c), asio::detached);
  beast::flat_buffer buffer;
  // Set once a response went out on a connection this server then closes:
  // the client may still be sending (a refused body, a pipelined request).
  bool linger = false;
  for (;;) {
    RequestParser parser;
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    c->ExpireAfter(options.io_timeout);
    co_await ReadHeader(*c, buffer, parser, options.max_header_bytes, ec);
    // The body (a declared Content-Length over body_limit failed above).
    if (!ec && !parser.is_done()) {
      co_await http::async_read(c->socket, buffer, parser, asio::redirect_error(kUseTask, ec));
    }
    if (c->timed_out || ec == http::error::end_of_stream) break;
    HttpResponse response;
    bool keep_alive = false;
    if (ec == http::error::header_limit) {
      response = TextResponse(
          431, "request header larger than " + std::to_string(options.max_header_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      response = TextResponse(
          413, "request body larger than " + std::to_string(options.max_body_bytes) + " bytes");
    } else if (ec) {
      if (ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted)
        break;
      response = TextResponse(400, "malformed HTTP request: " + ec.message());
    } else {
      auto& message = parser.get();
      keep_alive = message.keep_alive();
      const HttpRequest request = ToHttpRequest(std::move(message), remote);
      response = co_await Answer(*c, request);
    }
    if (!co_await Send(*c, response, keep_alive)) break;
    if (!keep_alive) {
      linger = true;
      break;
    }
  }
  if (!c->timed_out) {
    c->socket.shutdown(tcp::socket::shutdown_send, ec);
    if (linger && !ec) co_await Linger(*c);
  }
  c->done = true;
  c->watchdog.cancel();
}

}  // namespace midwife::bootserver
