#include "bench/storm/http_connection.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace midwife::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr size_t kReadChunk = 256 * 1024;
}

HttpConnection::HttpConnection(asio::any_io_executor executor, uint16_t port,
                               std::chrono::seconds timeout)
    : stream_(std::move(executor)), port_(port), timeout_(timeout) {
  // Beast reads at most the buffer's free capacity (capped at 64 KiB) per
  // call: a buffer left small would read a body a kilobyte at a time.
  buffer_.reserve(kReadChunk);
}

asio::awaitable<absl::Status> HttpConnection::EnsureConnected() {
  if (connected_) co_return absl::OkStatus();
  beast::error_code ec;
  stream_.expires_after(timeout_);
  co_await stream_.async_connect(
      asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port_),
      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
  stream_.socket().set_option(asio::ip::tcp::no_delay(true));
  connected_ = true;
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Get(std::string target, bool keep_body) {
  co_return co_await Exchange("GET", std::move(target), "", {}, keep_body);
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Post(
    std::string target, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  co_return co_await Exchange("POST", std::move(target), std::move(body), std::move(headers), true);
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Exchange(
    std::string method, std::string target, std::string body,
    std::vector<std::pair<std::string, std::string>> headers, bool keep_body) {
  // A connection the server closed between requests is opened again once,
  // as a firmware's HTTP client does.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (absl::Status st = co_await EnsureConnected(); !st.ok()) co_return st;
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(true);
    for (const auto& [k, v] : headers) request.set(k, v);
    if (method == "POST") {
      request.body() = body;
      request.prepare_payload();
    }
    beast::error_code ec;
    stream_.expires_after(timeout_);
    co_await http::async_write(stream_, request, asio::redirect_error(asio::use_awaitable, ec));
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    if (!ec) co_await http::async_read_header(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      connected_ = false;
      beast::error_code ignored;
      stream_.socket().close(ignored);
      buffer_.consume(buffer_.size());
      if (attempt == 0 && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                           ec == asio::error::eof || ec == asio::error::broken_pipe)) {
        continue;
      }
      co_return absl::UnavailableError(absl::StrCat(method, " ", target, ": ", ec.message()));
    }
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    std::vector<char> chunk(kReadChunk);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      stream_.expires_after(timeout_);
      co_await http::async_read(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        connected_ = false;
        co_return absl::UnavailableError(absl::StrCat(method, " ", target, " body: ", ec.message()));
      }
      const size_t got = chunk.size() - parser.get().body().size;
      reply.body_bytes += got;
      if (keep_body) reply.body.append(chunk.data(), got);
    }
    if (!parser.get().keep_alive()) {
      connected_ = false;
      beast::error_code ignored;
      stream_.socket().close(ignored);
      buffer_.consume(buffer_.size());
    }
    co_return reply;
  }
  co_return absl::UnavailableError(absl::StrCat(method, " ", target, ": connection lost twice"));
}

std::string UrlPath(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

}  // namespace midwife::bench
