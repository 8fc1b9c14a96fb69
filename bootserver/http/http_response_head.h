#ifndef MIDWIFE_BOOTSERVER_HTTP_HTTP_RESPONSE_HEAD_H_
#define MIDWIFE_BOOTSERVER_HTTP_HTTP_RESPONSE_HEAD_H_

// The bytes that go on the wire ahead of a response's body. Pure; the server
// writes them with the body in one gather (or ahead of a sendfile) instead
// of through a general serializer, which cost more per request than the
// rest of answering a module.

#include <string>

#include "bootserver/http/http_message.h"

namespace midwife::bootserver {

// "HTTP/1.1 <status> <reason>", the response's own fields, then Server,
// Content-Length (the GET's length for HEAD; none for 1xx, 204 and 304,
// which have no body) and Connection, and the blank line. A field whose name
// or value holds CR or LF is left out: it would split the response.
std::string SerializeResponseHead(const HttpResponse& response, bool keep_alive);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_HTTP_RESPONSE_HEAD_H_
