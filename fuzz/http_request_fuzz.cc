// libFuzzer target: HTTP request handling without sockets. The bytes go to
// Beast's request parser with the limits the server sets (http_server.cc),
// then through the project's own pure layers: the Beast -> HttpRequest
// adapter (percent-decoding, query split) and conditional/range GET over an
// in-memory resource (http_resource.h).
// Checks, beyond "no crash": a 206 body is exactly the Content-Range slice.

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "bootserver/http/http_request_adapter.h"
#include "bootserver/http/http_resource.h"

namespace http = boost::beast::http;
using namespace midwife::bootserver;

namespace {

// As HttpServerOptions' defaults, the body bound smaller to keep runs fast.
constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr uint64_t kBodyLimit = 64 * 1024;

void Serve(const HttpRequest& request, const std::string& body) {
  HttpResource resource;
  resource.etag = "sha256-abc";
  resource.content_type = "text/plain";
  resource.body = body;
  HttpResponse response = ServeResource(request, resource);
  if (response.status == 206) {
    if (response.body.size() > body.size() || response.body.empty()) std::abort();
    if (body.find(response.body) == std::string::npos) std::abort();
  } else if (response.status == 200) {
    if (response.body != body) std::abort();
  }
  if (const std::string* range = request.Header("range")) {
    bool unsatisfiable = false;
    auto parsed = ParseByteRange(*range, body.size(), &unsatisfiable);
    if (parsed && (parsed->first > parsed->last || parsed->last >= body.size())) std::abort();
    if (parsed && unsatisfiable) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  parser.eager(true);
  boost::beast::error_code ec;
  // Delivered in two reads, as a socket might: the split point comes from the
  // input so partial reads are explored too. As in the server (a flat_buffer),
  // bytes the parser has not consumed are offered again with the next read.
  // Each put() sees an exact-size copy, so ASan catches a read past the end.
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  std::string pending;
  for (auto [offset, length] : {std::pair<size_t, size_t>{0, split}, {split, size - split}}) {
    pending.append(reinterpret_cast<const char*>(data) + offset, length);
    while (!pending.empty() && !parser.is_done()) {
      std::vector<char> exact(pending.begin(), pending.end());
      size_t n = parser.put(boost::asio::buffer(exact.data(), exact.size()), ec);
      pending.erase(0, n);
      if (ec == http::error::need_more) {
        ec = {};
        break;  // wait for the next read
      }
      if (ec) return 0;
      if (n == 0) break;
    }
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  HttpRequest request = ToHttpRequest(parser.get(), "192.0.2.7");
  Serve(request, "0123456789abcdef");
  Serve(request, "");
  return 0;
}
