#include "bootserver/http/http_response_head.h"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace midwife::bootserver {
namespace {

// (Not find_first_of: that is a two-byte memchr per character.)
bool SplitsTheHead(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; });
}

}  // namespace

std::string SerializeResponseHead(const HttpResponse& response, bool keep_alive) {
  const auto status = static_cast<boost::beast::http::status>(response.status);
  const auto beast_reason = boost::beast::http::obsolete_reason(status);
  const std::string_view reason(beast_reason.data(), beast_reason.size());
  std::string head;
  head.reserve(256);
  absl::StrAppend(&head, "HTTP/1.1 ", response.status, " ");
  head.append(reason);
  head += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (SplitsTheHead(name) || SplitsTheHead(value)) continue;
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "Server: midwife\r\n";
  const bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  if (!bodiless) absl::StrAppend(&head, "Content-Length: ", response.ContentLength(), "\r\n");
  head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return head;
}

}  // namespace midwife::bootserver
