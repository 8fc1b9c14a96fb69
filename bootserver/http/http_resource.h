#ifndef MIDWIFE_BOOTSERVER_HTTP_HTTP_RESOURCE_H_
#define MIDWIFE_BOOTSERVER_HTTP_HTTP_RESOURCE_H_

// Conditional and partial GET (RFC 9110 sections 13 and 14) over a resource
// with a strong ETag: If-None-Match -> 304, Range -> 206 or 416, HEAD.
// Pure: the caller has already found the resource.

#include <optional>
#include <string>

#include "bootserver/http/http_message.h"

namespace midwife::bootserver {

struct HttpResource {
  std::string etag;  // Without quotes; empty: none.
  std::string content_type = "application/octet-stream";
  std::string cache_control;  // e.g. "public, max-age=31536000, immutable"
  // Either bytes or a whole open file of `file_size` bytes.
  std::string body;
  std::shared_ptr<OpenFile> file;
  uint64_t file_size = 0;
};

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // Inclusive.
};

// Parses a Range header against a representation of `size` bytes.
// nullopt: ignore the header and send the whole (absent, malformed, several
// ranges, or not "bytes"), as RFC 9110 14.2 allows. An unsatisfiable range
// sets *unsatisfiable.
std::optional<ByteRange> ParseByteRange(const std::string& header, uint64_t size,
                                        bool* unsatisfiable);

// Builds the response to GET or HEAD of `resource`.
HttpResponse ServeResource(const HttpRequest& request, HttpResource resource);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_HTTP_RESOURCE_H_
