#include "bootserver/http/http_message.h"

#include <unistd.h>

namespace midwife::bootserver {

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

HttpResponse TextResponse(int status, std::string text) {
  HttpResponse r;
  r.status = status;
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  r.body = std::move(text);
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

}  // namespace midwife::bootserver
