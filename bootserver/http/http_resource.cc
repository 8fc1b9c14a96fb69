#include "bootserver/http/http_resource.h"

#include <charconv>

namespace midwife::bootserver {
namespace {

bool ParseNumber(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match: "*" or a list of entity tags, weak comparison (RFC 9110 13.1.2).
bool EtagMatches(const std::string& header, const std::string& etag) {
  std::string_view rest = header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view tag = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' &&
        tag.substr(1, tag.size() - 2) == etag) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<ByteRange> ParseByteRange(const std::string& header, uint64_t size,
                                        bool* unsatisfiable) {
  *unsatisfiable = false;
  std::string_view h = Trim(header);
  if (!h.starts_with("bytes=")) return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;
  h = Trim(h);
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view first_text = Trim(h.substr(0, dash));
  std::string_view last_text = Trim(h.substr(dash + 1));
  uint64_t first = 0;
  uint64_t last = 0;
  if (first_text.empty()) {
    // Suffix range: the last N bytes.
    uint64_t n = 0;
    if (!ParseNumber(last_text, &n)) return std::nullopt;
    if (n == 0 || size == 0) {
      *unsatisfiable = true;
      return std::nullopt;
    }
    return ByteRange{n >= size ? 0 : size - n, size - 1};
  }
  if (!ParseNumber(first_text, &first)) return std::nullopt;
  if (last_text.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!ParseNumber(last_text, &last) || last < first) {
    return std::nullopt;
  }
  if (first >= size) {
    *unsatisfiable = true;
    return std::nullopt;
  }
  return ByteRange{first, std::min(last, size - 1)};
}

HttpResponse ServeResource(const HttpRequest& request, HttpResource resource) {
  HttpResponse r;
  r.head_only = request.method == "HEAD";
  const uint64_t size = resource.file ? resource.file_size : resource.body.size();
  if (!resource.etag.empty()) r.headers.emplace_back("ETag", "\"" + resource.etag + "\"");
  if (!resource.cache_control.empty())
    r.headers.emplace_back("Cache-Control", resource.cache_control);
  r.headers.emplace_back("Accept-Ranges", "bytes");

  const std::string* inm = request.Header("if-none-match");
  if (inm != nullptr && !resource.etag.empty() && EtagMatches(*inm, resource.etag)) {
    r.status = 304;
    return r;
  }
  r.headers.emplace_back("Content-Type", resource.content_type);
  ByteRange range{0, size == 0 ? 0 : size - 1};
  bool partial = false;
  if (const std::string* rh = request.Header("range"); rh != nullptr) {
    // If-Range with a different validator means "send it all".
    const std::string* if_range = request.Header("if-range");
    bool range_applies = if_range == nullptr || EtagMatches(*if_range, resource.etag);
    bool unsatisfiable = false;
    auto parsed = range_applies ? ParseByteRange(*rh, size, &unsatisfiable) : std::nullopt;
    if (unsatisfiable) {
      HttpResponse e =
          TextResponse(416, "range not satisfiable for " + std::to_string(size) + " bytes");
      e.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
      return e;
    }
    if (parsed) {
      range = *parsed;
      partial = true;
      r.status = 206;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                  std::to_string(range.last) + "/" +
                                                  std::to_string(size));
    }
  }
  const uint64_t length = size == 0 ? 0 : range.last - range.first + 1;
  if (resource.file) {
    r.file = FileRange{std::move(resource.file), range.first, length};
  } else if (partial) {
    r.body = resource.body.substr(range.first, length);
  } else {
    r.body = std::move(resource.body);
  }
  return r;
}

}  // namespace midwife::bootserver
