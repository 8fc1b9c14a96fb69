#include "core/gunzip_stream.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/tar_builder.h"

namespace midwife {
namespace {

using ::midwife::testing::Gzip;
using ::testing::HasSubstr;

constexpr uint64_t kNoLimit = ~uint64_t{0};

// Compressible but not trivially (~3:1, like configuration text): a 48 KiB
// block repeated, which deflate's 32 KiB window cannot see across.
std::string Text(size_t size) {
  static const std::string* const block = [] {
    auto* b = new std::string;
    uint32_t x = 1;
    while (b->size() < (48 << 10)) {
      x = x * 1103515245 + 12345;
      *b += "key" + std::to_string(x % 977) + " = " + std::to_string(x >> 16) + "\n";
    }
    return b;
  }();
  std::string out;
  out.reserve(size + block->size());
  while (out.size() < size) out += *block;
  out.resize(size);
  return out;
}

// Everything the stream produces, or its error; checks each chunk's bound.
absl::StatusOr<std::string> Drain(GunzipStream& stream) {
  std::string out;
  for (;;) {
    auto chunk = stream.Next();
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return out;
    out.append(*chunk);
  }
}

absl::StatusOr<std::string> Gunzip(std::string_view gz, uint64_t limit = kNoLimit) {
  uint64_t used = 0;
  GunzipStream stream(gz, &used, limit);
  return Drain(stream);
}

std::string WithIsize(std::string gz, uint32_t isize) {
  for (int i = 0; i < 4; ++i) gz[gz.size() - 4 + i] = static_cast<char>(isize >> (8 * i));
  return gz;
}

TEST(GunzipStream, InflatesSmallStreamInOnePiece) {
  uint64_t used = 0;
  const std::string gz = Gzip("hello, world\n");
  GunzipStream stream(gz, &used, kNoLimit);
  auto first = stream.Next();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "hello, world\n");
  EXPECT_EQ(used, 13u);
  auto end = stream.Next();
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
  EXPECT_TRUE(stream.Next()->empty());
}

TEST(GunzipStream, StreamsWhatIsTooLargeForOnePieceInBoundedChunks) {
  const std::string text = Text(kMaxWholeInflateBytes + 12345);
  const std::string gz = Gzip(text);
  uint64_t used = 0;
  GunzipStream stream(gz, &used, kNoLimit);
  std::string out;
  int chunks = 0;
  for (;;) {
    auto chunk = stream.Next();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (chunk->empty()) break;
    EXPECT_LE(chunk->size(), kGunzipChunkBytes);
    out.append(*chunk);
    ++chunks;
  }
  EXPECT_EQ(out, text);
  EXPECT_EQ(used, text.size());
  EXPECT_GT(chunks, 100);
}

TEST(GunzipStream, InflatesConcatenatedMembers) {
  auto out = Gunzip(Gzip("first ") + Gzip("") + Gzip("second"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "first second");
}

TEST(GunzipStream, AcceptsExactlyTheLimit) {
  const std::string text = Text(100000);
  EXPECT_TRUE(Gunzip(Gzip(text), text.size()).ok());
  auto over = Gunzip(Gzip(text), text.size() - 1);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("more than 99999 bytes after decompression"));
}

TEST(GunzipStream, StopsWithinOneByteOfTheLimit) {
  const std::string bomb = Gzip(std::string(32 << 20, '\0'));
  for (const std::string& gz : {bomb, WithIsize(bomb, 16)}) {  // An honest and a lying trailer.
    uint64_t used = 0;
    GunzipStream stream(gz, &used, 1 << 20);
    auto out = Drain(stream);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << out.status();
    EXPECT_EQ(used, (1u << 20) + 1);
  }
}

TEST(GunzipStream, SharesOneBudgetBetweenStreams) {
  const std::string gz = Gzip(Text(6000));
  uint64_t used = 0;
  GunzipStream first(gz, &used, 10000);
  ASSERT_TRUE(Drain(first).ok());
  GunzipStream second(gz, &used, 10000);
  EXPECT_EQ(Drain(second).status().code(), absl::StatusCode::kResourceExhausted);
}

struct Damaged {
  std::string name;
  std::function<std::string()> gz;  // Built when the test runs, not when it is listed.
  std::string reason;
};

class RefusesDamagedStream : public ::testing::TestWithParam<Damaged> {};

TEST_P(RefusesDamagedStream, WithInvalidArgumentAndKeepsRefusing) {
  uint64_t used = 0;
  const std::string gz = GetParam().gz();
  GunzipStream stream(gz, &used, kNoLimit);
  auto out = Drain(stream);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  EXPECT_THAT(out.status().message(), HasSubstr(GetParam().reason));
  EXPECT_EQ(stream.Next().status(), out.status());
  EXPECT_EQ(stream.status(), out.status());
}

const std::string& Small() {
  static const std::string* const gz = new std::string(Gzip(Text(5000)));
  return *gz;
}

const std::string& Large() {
  static const std::string* const gz = new std::string(Gzip(Text(kMaxWholeInflateBytes + 1)));
  return *gz;
}

std::string Flip(std::string s, size_t from_end) {
  s[s.size() - from_end] ^= 0x20;
  return s;
}

// Small streams go the one-piece way, large ones stream: both must refuse.
std::vector<Damaged> DamagedStreams() {
  return {
      {"Empty", [] { return std::string(); }, "not gzip-compressed"},
      {"PlainText", [] { return std::string("hello"); }, "not gzip-compressed"},
      {"ZlibNotGzip", [] { return std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8); },
       "not gzip-compressed"},
      {"SmallTruncated", [] { return Small().substr(0, Small().size() / 2); },
       "truncated gzip stream"},
      {"SmallMissingTrailer", [] { return Small().substr(0, Small().size() - 8); },
       "truncated gzip stream"},
      {"SmallBadCrc", [] { return Flip(Small(), 7); },
       "corrupt gzip stream (incorrect data check)"},
      {"SmallBadLength", [] { return Flip(Small(), 3); },
       "corrupt gzip stream (incorrect length check)"},
      {"SmallTrailingBytes", [] { return Small() + "tail"; },
       "4 bytes of trailing data after the gzip stream"},
      {"SmallTrailingZeros", [] { return Small() + std::string(512, '\0'); },
       "512 bytes of trailing data"},
      {"LargeTruncated", [] { return Large().substr(0, Large().size() / 2); },
       "truncated gzip stream"},
      {"LargeBadCrc", [] { return Flip(Large(), 7); },
       "corrupt gzip stream (incorrect data check)"},
      {"LargeTrailingBytes", [] { return Large() + "x"; }, "1 bytes of trailing data"},
  };
}

INSTANTIATE_TEST_SUITE_P(Table, RefusesDamagedStream, ::testing::ValuesIn(DamagedStreams()),
                         [](const ::testing::TestParamInfo<Damaged>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace midwife
