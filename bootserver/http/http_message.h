#ifndef MIDWIFE_BOOTSERVER_HTTP_HTTP_MESSAGE_H_
#define MIDWIFE_BOOTSERVER_HTTP_HTTP_MESSAGE_H_

// The boot server's own view of an HTTP exchange, free of Beast and sockets,
// so routing and conditional/range logic are plain functions of
// request -> response, tested without I/O.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace midwife::bootserver {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string path;    // Decoded path, no query.
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
  std::string remote_address;  // Client IP.

  const std::string* Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
};

// An open file the server sends with sendfile(); closed when the last
// response holding it is gone.
class OpenFile {
 public:
  explicit OpenFile(int fd) : fd_(fd) {}
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct FileRange {
  std::shared_ptr<OpenFile> file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  // Either an in-memory body or a file range (zero-copy); never both.
  std::string body;
  std::optional<FileRange> file;
  // HEAD: headers (with the GET's Content-Length) but no body bytes.
  bool head_only = false;

  uint64_t ContentLength() const { return file ? file->length : body.size(); }
};

// A plain-text error response; `reason` says what was wrong.
HttpResponse TextResponse(int status, std::string text);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_HTTP_MESSAGE_H_
