#include "bootserver/http/http_response_head.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(SerializeResponseHead, StatusLineFieldsLengthAndKeepAlive) {
  HttpResponse r;
  r.status = 200;
  r.body = "hello";
  r.headers.emplace_back("Content-Type", "text/plain");
  r.headers.emplace_back("ETag", "\"sha256:ab\"");
  EXPECT_EQ(SerializeResponseHead(r, /*keep_alive=*/true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "ETag: \"sha256:ab\"\r\n"
            "Server: midwife\r\n"
            "Content-Length: 5\r\n"
            "Connection: keep-alive\r\n\r\n");
  EXPECT_THAT(SerializeResponseHead(r, /*keep_alive=*/false),
              ::testing::EndsWith("Connection: close\r\n\r\n"));
}

TEST(SerializeResponseHead, AFileRangeGivesItsLengthAndHeadTheGetsLength) {
  HttpResponse r;
  r.status = 206;
  r.file = FileRange{nullptr, 100, 4096};
  EXPECT_THAT(SerializeResponseHead(r, true), HasSubstr("HTTP/1.1 206 Partial Content\r\n"));
  EXPECT_THAT(SerializeResponseHead(r, true), HasSubstr("\r\nContent-Length: 4096\r\n"));
  r.head_only = true;
  EXPECT_THAT(SerializeResponseHead(r, true), HasSubstr("\r\nContent-Length: 4096\r\n"));
}

TEST(SerializeResponseHead, NoContentLengthWhereThereIsNoBody) {
  for (int status : {100, 204, 304}) {
    HttpResponse r;
    r.status = status;
    EXPECT_THAT(SerializeResponseHead(r, true), Not(HasSubstr("Content-Length"))) << status;
  }
  HttpResponse not_found = TextResponse(404, "no route");
  EXPECT_THAT(SerializeResponseHead(not_found, true),
              HasSubstr("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(SerializeResponseHead(not_found, true), HasSubstr("Content-Length: 9\r\n"));
}

// A field carrying CR or LF would let whoever chose its value (a file name,
// a label) write fields or a whole response of their own.
TEST(SerializeResponseHead, FieldsThatWouldSplitTheResponseAreLeftOut) {
  HttpResponse r;
  r.headers.emplace_back("X-Name", "a\r\nSet-Cookie: evil=1");
  r.headers.emplace_back("X-Bad\nName", "v");
  r.headers.emplace_back("X-Good", "kept");
  const std::string head = SerializeResponseHead(r, true);
  EXPECT_THAT(head, Not(HasSubstr("evil")));
  EXPECT_THAT(head, Not(HasSubstr("X-Bad")));
  EXPECT_THAT(head, HasSubstr("\r\nX-Good: kept\r\n"));
  // Exactly one blank line, at the end.
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);
}

}  // namespace
}  // namespace midwife::bootserver
