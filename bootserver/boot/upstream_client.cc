#include "bootserver/boot/upstream_client.h"

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/oci_format.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr size_t kChunkBytes = 256 << 10;
// Of an error body, this much goes into the message.
constexpr size_t kMaxErrorText = 300;

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamClient>> UpstreamClient::Create(UpstreamOptions options) {
  std::string_view rest = options.url;
  if (!rest.starts_with("http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--upstream must be http://HOST[:PORT], got \"", options.url, "\""));
  }
  rest.remove_prefix(7);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--upstream must be http://HOST[:PORT] without a path, got \"", options.url, "\""));
  }
  std::string host(rest), port = "80";
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos && rest.back() != ']') {
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in --upstream \"", options.url, "\""));
    }
  }
  options.url = absl::StrCat("http://", std::string(rest));
  return std::unique_ptr<UpstreamClient>(
      new UpstreamClient(std::move(options), std::move(host), std::move(port)));
}

absl::StatusOr<std::string> UpstreamClient::Get(
    const std::string& target, uint64_t max_bytes,
    const std::function<absl::Status(std::string_view)>& sink) const {
  const std::string what = absl::StrCat("upstream ", options_.url, target);
  auto unavailable = [&](std::string_view step, const beast::error_code& ec) {
    return absl::UnavailableError(absl::StrCat(what, ": ", std::string(step), ": ", ec.message()));
  };
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host_, port_, ec);
  if (ec) return unavailable("resolve", ec);
  stream.expires_after(options_.connect_timeout);
  stream.connect(endpoints, ec);
  if (ec) return unavailable("connect", ec);

  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, host_);
  request.set(http::field::user_agent, "midwife-site-cache");
  request.set(http::field::connection, "close");
  stream.expires_after(options_.io_timeout);
  http::write(stream, request, ec);
  if (ec) return unavailable("send", ec);

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(max_bytes);
  stream.expires_after(options_.io_timeout);
  http::read_header(stream, buffer, parser, ec);
  if (ec == http::error::body_limit) {
    return absl::DataLossError(absl::StrCat(what, ": body is larger than ", max_bytes, " bytes"));
  }
  if (ec) return unavailable("read header", ec);
  const unsigned code = parser.get().result_int();
  std::string etag(parser.get()[http::field::etag]);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);

  std::string chunk(kChunkBytes, '\0');
  std::string error_text;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(options_.io_timeout);
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      return absl::DataLossError(absl::StrCat(what, ": body is larger than ", max_bytes, " bytes"));
    }
    if (ec) return unavailable("read body", ec);
    const size_t n = chunk.size() - parser.get().body().size;
    std::string_view got(chunk.data(), n);
    if (code == 200) {
      RETURN_IF_ERROR(sink(got));
    } else if (error_text.size() < kMaxErrorText) {
      error_text.append(got.substr(0, kMaxErrorText - error_text.size()));
    }
  }
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  while (!error_text.empty() && (error_text.back() == '\n' || error_text.back() == '\r')) error_text.pop_back();
  if (code == 200) return etag;
  const std::string message = absl::StrCat(what, ": HTTP ", code, error_text.empty() ? "" : ": ", error_text);
  if (code == 404) return absl::NotFoundError(message);
  return absl::UnavailableError(message);
}

absl::StatusOr<uint64_t> UpstreamClient::FetchBlob(const imagebuilder::BlobDigest& digest, int fd,
                                                   uint64_t max_bytes) const {
  uint64_t written = 0;
  auto sink = [&](std::string_view bytes) -> absl::Status {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const std::string message = absl::StrCat("cannot write ", digest.ToString(), ": ", std::strerror(errno));
        return errno == ENOSPC ? absl::ResourceExhaustedError(message) : absl::InternalError(message);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      written += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(Get("/blobs/sha256/" + digest.hex(), max_bytes, sink).status());
  return written;
}

absl::StatusOr<UpstreamClient::Manifest> UpstreamClient::FetchManifest(
    const imagebuilder::ImageRef& ref) const {
  std::string bytes;
  auto sink = [&](std::string_view got) {
    bytes.append(got);
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(const std::string etag,
                   Get("/images/" + ref.ToString() + "/manifest", imagebuilder::kMaxManifestBytes, sink));
  auto digest = imagebuilder::BlobDigest::Parse(etag);
  if (!digest.ok()) {
    return absl::DataLossError(absl::StrCat("upstream ", options_.url, ": manifest of ", ref.ToString(),
                                            " came without a digest ETag (got \"", etag, "\")"));
  }
  if (imagebuilder::BlobDigest::Of(bytes) != *digest) {
    return absl::DataLossError(absl::StrCat("upstream ", options_.url, ": manifest of ", ref.ToString(),
                                            " is not ", digest->ToString(), " as its ETag says"));
  }
  return Manifest{*std::move(digest), std::move(bytes)};
}

}  // namespace midwife::bootserver
