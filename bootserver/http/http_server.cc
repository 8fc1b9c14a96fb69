#include "bootserver/http/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bootserver/http/http_request_adapter.h"
#include "bootserver/listen_address.h"
#include "core/log.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using RequestParser = http::request_parser<http::string_body>;

// Reads a request's header into `parser`: header_limit (431) once it holds
// more than `max_bytes` in all. Beast's own header_limit bounds only the part
// of the header not yet parsed (Boost 1.74 forgets the fields it has parsed),
// so a client sending many small fields a few at a time could grow a header
// without end; here every byte the parser takes is counted. Beast's bound
// stays set too: it keeps one unparsed field from growing past `max_bytes`.
// The same errors as http::async_read otherwise (end_of_stream when the
// client closed between requests).
// After answering and half-closing, reads and drops what the client still
// sends until it closes, goes quiet for kLingerIdle, or kLingerTotal has
// passed. Closing a socket with unread bytes makes the kernel send a reset,
// which discards whatever of the answer is still unsent or unread: a client
// that sent a body the server refused (413) would see the connection reset
// instead of the reason. nginx's lingering close does the same.
constexpr auto kLingerIdle = std::chrono::seconds(2);
constexpr auto kLingerTotal = std::chrono::seconds(10);

asio::awaitable<void> Linger(beast::tcp_stream& stream) {
  const auto until = std::chrono::steady_clock::now() + kLingerTotal;
  std::array<char, 16 * 1024> scratch;
  boost::system::error_code ec;
  while (!ec && std::chrono::steady_clock::now() < until) {
    stream.expires_after(std::min<std::chrono::steady_clock::duration>(
        kLingerIdle, until - std::chrono::steady_clock::now()));
    co_await stream.async_read_some(asio::buffer(scratch),
                                    asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> ReadHeader(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                 RequestParser& parser, size_t max_bytes,
                                 boost::system::error_code& ec) {
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
        co_await stream.async_read_some(space, asio::redirect_error(asio::use_awaitable, ec));
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

  asio::awaitable<void> Accept(std::shared_ptr<Shared> self);
  asio::awaitable<void> Session(std::shared_ptr<Shared> self, tcp::socket socket,
                                ConnectionSlot slot);
  asio::awaitable<bool> SendFile(beast::tcp_stream& stream, const FileRange& range);
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
  asio::co_spawn(io_, shared_->Accept(shared_), asio::detached);
  return absl::OkStatus();
}

const HttpCounters& HttpServer::counters() const { return shared_->counters; }

void HttpServer::Stop() {
  if (shared_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  shared_->blocking_pool.join();
}

asio::awaitable<void> HttpServer::Shared::Accept(std::shared_ptr<Shared> self) {
  auto executor = co_await asio::this_coro::executor;
  while (!stopping) {
    boost::system::error_code ec;
    // A connection's reads, writes and Beast's timeout handler must never
    // run at once. On one of the daemon's single-threaded io_contexts they
    // cannot, and a strand would only add a queue hand-off to every
    // completion; on the acceptor's own io_context, which several threads
    // may run, each connection gets a strand.
    asio::any_io_executor session = options.session_executor
                                        ? options.session_executor()
                                        : asio::any_io_executor(asio::make_strand(executor));
    tcp::socket socket =
        co_await acceptor.async_accept(session, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      ++counters.accept_errors;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        asio::steady_timer pause(executor, kAcceptPause);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
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

namespace {
void SetCork(tcp::socket& socket, bool on) {
  const int value = on ? 1 : 0;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}
}  // namespace

// sendfile(2) from the page cache straight to the socket; waits for the
// socket to drain instead of blocking an I/O thread.
asio::awaitable<bool> HttpServer::Shared::SendFile(beast::tcp_stream& stream,
                                                   const FileRange& range) {
  tcp::socket& socket = stream.socket();
  // Setting it costs an ioctl each time; a keep-alive connection needs one.
  if (!socket.non_blocking()) socket.non_blocking(true);
  off_t offset = static_cast<off_t>(range.offset);
  uint64_t remaining = range.length;
  while (remaining > 0) {
    ssize_t n = ::sendfile(socket.native_handle(), range.file->fd(), &offset,
                           std::min<uint64_t>(remaining, 1 << 30));
    if (n > 0) {
      remaining -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      boost::system::error_code ec;
      stream.expires_after(options.io_timeout);
      co_await socket.async_wait(tcp::socket::wait_write,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
      continue;
    }
    co_return false;  // The file shrank or the peer is gone.
  }
  co_return true;
}

asio::awaitable<void> HttpServer::Shared::Session([[maybe_unused]] std::shared_ptr<Shared> self,
                                                  tcp::socket socket,
                                                  [[maybe_unused]] ConnectionSlot slot) {
  boost::system::error_code ec;
  std::string remote = socket.remote_endpoint(ec).address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  // Set once a response went out on a connection this server then closes:
  // the client may still be sending (a refused body, a pipelined request).
  bool linger = false;
  for (;;) {
    RequestParser parser;
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    stream.expires_after(options.io_timeout);
    co_await ReadHeader(stream, buffer, parser, options.max_header_bytes, ec);
    // The body (a declared Content-Length over body_limit failed above).
    if (!ec && !parser.is_done()) {
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) break;
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
      const auto& message = parser.get();
      keep_alive = message.keep_alive();
      HttpRequest request = ToHttpRequest(message, remote);
      if (handlers.is_blocking && handlers.is_blocking(request)) {
        // Run on the blocking pool, so a slow store never stalls I/O. (A
        // co_await of post(pool) would not do: its completion runs on the
        // coroutine's own executor, so the handler would block the I/O
        // thread after all.) The coroutine resumes on its I/O thread.
        response = co_await asio::co_spawn(
            blocking_pool,
            [&]() -> asio::awaitable<HttpResponse> { co_return handlers.handle(request); },
            asio::use_awaitable);
      } else {
        response = handlers.handle(request);
      }
    }
    http::response<http::string_body> out;
    out.version(11);
    out.result(static_cast<http::status>(response.status));
    for (const auto& [name, value] : response.headers) out.set(name, value);
    out.set(http::field::server, "midwife");
    out.keep_alive(keep_alive);
    stream.expires_after(options.io_timeout);
    if (response.file && !response.head_only) {
      http::response<http::empty_body> header{out.result(), 11};
      header.base() = out.base();
      header.content_length(response.file->length);
      http::response_serializer<http::empty_body> serializer(header);
      // Corked (as nginx's tcp_nopush), the header leaves in the same segment
      // as the file's first bytes: a small module costs the client one
      // wake-up, not two.
      SetCork(stream.socket(), true);
      co_await http::async_write_header(stream, serializer,
                                        asio::redirect_error(asio::use_awaitable, ec));
      const bool sent = !ec && co_await SendFile(stream, *response.file);
      SetCork(stream.socket(), false);
      if (!sent) break;
    } else {
      const uint64_t length = response.ContentLength();
      if (!response.head_only) out.body() = std::move(response.body);
      out.content_length(length);
      if (response.head_only) {
        http::response<http::empty_body> header{out.result(), 11};
        header.base() = out.base();
        http::response_serializer<http::empty_body> serializer(header);
        co_await http::async_write_header(stream, serializer,
                                          asio::redirect_error(asio::use_awaitable, ec));
      } else {
        co_await http::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) break;
    }
    if (!keep_alive) {
      linger = true;
      break;
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (linger && !ec) co_await Linger(stream);
}

}  // namespace midwife::bootserver
