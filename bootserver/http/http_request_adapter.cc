#include "bootserver/http/http_request_adapter.h"

#include <cctype>
#include <utility>

namespace midwife::bootserver {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  if (s.find('%') == std::string_view::npos) return std::string(s);  // Most paths.
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

HttpRequest ToHttpRequest(
    const boost::beast::http::request<boost::beast::http::string_body>& in,
    const std::string& remote) {
  HttpRequest r;
  r.method = std::string(in.method_string());
  std::string_view target(in.target().data(), in.target().size());
  size_t q = target.find('?');
  r.path = PercentDecode(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      size_t eq = pair.find('=');
      // "a=1&&b=2" and a trailing "&" hold empty pairs: nothing, not a name.
      if (!pair.empty()) {
        r.query[PercentDecode(pair.substr(0, eq))] =
            eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
      }
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
  }
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(field.value());
  }
  r.body = in.body();
  r.remote_address = remote;
  return r;
}

HttpRequest ToHttpRequest(boost::beast::http::request<boost::beast::http::string_body>&& in,
                          const std::string& remote) {
  std::string body = std::move(in.body());
  in.body().clear();
  HttpRequest r = ToHttpRequest(std::as_const(in), remote);
  r.body = std::move(body);
  return r;
}

}  // namespace midwife::bootserver
