#include "bootserver/http/http_request_adapter.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

namespace http = boost::beast::http;
using ::testing::ElementsAre;
using ::testing::Pair;

http::request<http::string_body> Request(http::verb verb, const std::string& target) {
  http::request<http::string_body> r(verb, target, 11);
  return r;
}

TEST(PercentDecode, DecodesEscapesAndKeepsMalformedOnes) {
  EXPECT_EQ(PercentDecode("sha256%3Aab%2fcd"), "sha256:ab/cd");
  EXPECT_EQ(PercentDecode("%41%4a%4A"), "AJJ");
  // Malformed or cut escapes stay as written (the router refuses the path).
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentDecode("a%4"), "a%4");
  EXPECT_EQ(PercentDecode("%zz%4g"), "%zz%4g");
  EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
}

TEST(ToHttpRequest, SplitsPathAndQueryAndDecodesBoth) {
  auto in = Request(http::verb::get, "/blobs/sha256%3Aab?x=1&y=%41&flag&x=2&=v&&");
  HttpRequest r = ToHttpRequest(in, "192.0.2.7");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/blobs/sha256:ab");
  // A repeated name keeps its last value; a bare name has an empty value.
  EXPECT_THAT(r.query, ElementsAre(Pair("", "v"), Pair("flag", ""), Pair("x", "2"), Pair("y", "A")));
  EXPECT_EQ(r.remote_address, "192.0.2.7");
}

TEST(ToHttpRequest, EncodedQuestionMarkStaysInThePath) {
  HttpRequest r = ToHttpRequest(Request(http::verb::head, "/a%3Fb?c=d"), "");
  EXPECT_EQ(r.method, "HEAD");
  EXPECT_EQ(r.path, "/a?b");
  EXPECT_THAT(r.query, ElementsAre(Pair("c", "d")));
}

TEST(ToHttpRequest, LowerCasesHeaderNamesAndKeepsTheBody) {
  auto in = Request(http::verb::post, "/hosts/52-54-00-12-34-56/state");
  in.set("Authorization", "Bearer t");
  in.set("X-Midwife-Thing", "V");
  in.body() = "hello";
  HttpRequest r = ToHttpRequest(in, "");
  ASSERT_NE(r.Header("authorization"), nullptr);
  EXPECT_EQ(*r.Header("authorization"), "Bearer t");
  ASSERT_NE(r.Header("x-midwife-thing"), nullptr);
  EXPECT_EQ(*r.Header("x-midwife-thing"), "V");
  EXPECT_EQ(r.body, "hello");
}

}  // namespace
}  // namespace midwife::bootserver
