#include "bootserver/tftp/tftp_options.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver::tftp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr NegotiationLimits kLimits{.max_block_size = 1468, .max_window_size = 64};

TEST(TftpNegotiation, NoOptionsMeansRfc1350DefaultsAndNoOack) {
  const NegotiatedOptions n = NegotiateReadOptions({}, 1000, kLimits);
  EXPECT_EQ(n.block_size, 512);
  EXPECT_EQ(n.window_size, 1);
  EXPECT_EQ(n.timeout_seconds, std::nullopt);
  EXPECT_THAT(n.acknowledged, IsEmpty());
}

TEST(TftpNegotiation, BlockSizeIsClampedToTheServerMaximumOrOmitted) {
  const struct {
    std::string requested;
    std::optional<std::string> acknowledged;  // nullopt: omitted from the OACK
    uint16_t used;
  } kCases[] = {
      {"512", "512", 512},         {"8", "8", 8},
      {"1432", "1432", 1432},      {"1468", "1468", 1468},
      {"1469", "1468", 1468},      {"65464", "1468", 1468},
      {"65465", "1468", 1468},     {"9999999999", "1468", 1468},
      {"7", std::nullopt, 512},    {"0", std::nullopt, 512},
      {"", std::nullopt, 512},     {"-1", std::nullopt, 512},
      {"+512", std::nullopt, 512}, {" 512", std::nullopt, 512},
      {"512x", std::nullopt, 512}, {"99999999999", std::nullopt, 512},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.requested);
    const NegotiatedOptions n = NegotiateReadOptions({{"blksize", c.requested}}, 0, kLimits);
    EXPECT_EQ(n.block_size, c.used);
    if (c.acknowledged) {
      EXPECT_THAT(n.acknowledged, ElementsAre(Option{"blksize", *c.acknowledged}));
    } else {
      EXPECT_THAT(n.acknowledged, IsEmpty());
    }
  }
}

TEST(TftpNegotiation, ServerMaximumAboveTheRfcLimitStillAnswersAtMost65464) {
  const NegotiatedOptions n = NegotiateReadOptions(
      {{"blksize", "70000"}}, 0, NegotiationLimits{.max_block_size = 65535, .max_window_size = 1});
  EXPECT_EQ(n.block_size, 65464);
}

TEST(TftpNegotiation, TimeoutIsEchoedExactlyWhenInRangeElseOmitted) {
  const struct {
    std::string requested;
    std::optional<int> accepted;
  } kCases[] = {{"1", 1},
                {"3", 3},
                {"255", 255},
                {"0", std::nullopt},
                {"256", std::nullopt},
                {"1.5", std::nullopt},
                {"", std::nullopt}};
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.requested);
    const NegotiatedOptions n = NegotiateReadOptions({{"timeout", c.requested}}, 0, kLimits);
    EXPECT_EQ(n.timeout_seconds, c.accepted);
    if (c.accepted) {
      EXPECT_THAT(n.acknowledged, ElementsAre(Option{"timeout", c.requested}));
    } else {
      EXPECT_THAT(n.acknowledged, IsEmpty());
    }
  }
}

TEST(TftpNegotiation, TsizeIsAnsweredWithTheRealFileSize) {
  EXPECT_THAT(NegotiateReadOptions({{"tsize", "0"}}, 41943040, kLimits).acknowledged,
              ElementsAre(Option{"tsize", "41943040"}));
  EXPECT_THAT(NegotiateReadOptions({{"tsize", "0"}}, 0, kLimits).acknowledged,
              ElementsAre(Option{"tsize", "0"}));
  // A client that guesses a size still gets the real one.
  EXPECT_THAT(NegotiateReadOptions({{"tsize", "5"}}, 7, kLimits).acknowledged,
              ElementsAre(Option{"tsize", "7"}));
  EXPECT_THAT(NegotiateReadOptions({{"tsize", "?"}}, 7, kLimits).acknowledged, IsEmpty());
}

TEST(TftpNegotiation, WindowSizeIsClampedToTheServerMaximumOrOmitted) {
  const struct {
    std::string requested;
    std::optional<std::string> acknowledged;
    uint16_t used;
  } kCases[] = {{"1", "1", 1},          {"16", "16", 16},      {"64", "64", 64},
                {"65", "64", 64},       {"65535", "64", 64},   {"65536", "64", 64},
                {"0", std::nullopt, 1}, {"x", std::nullopt, 1}};
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.requested);
    const NegotiatedOptions n = NegotiateReadOptions({{"windowsize", c.requested}}, 0, kLimits);
    EXPECT_EQ(n.window_size, c.used);
    if (c.acknowledged) {
      EXPECT_THAT(n.acknowledged, ElementsAre(Option{"windowsize", *c.acknowledged}));
    } else {
      EXPECT_THAT(n.acknowledged, IsEmpty());
    }
  }
}

TEST(TftpNegotiation, UnknownOptionsAreIgnoredAndOrderIsKept) {
  const NegotiatedOptions n = NegotiateReadOptions({{"windowsize", "8"},
                                                    {"multicast", ""},
                                                    {"utimeout", "500"},
                                                    {"tsize", "0"},
                                                    {"blksize", "1408"},
                                                    {"timeout", "2"}},
                                                   1234, kLimits);
  EXPECT_EQ(n.block_size, 1408);
  EXPECT_EQ(n.window_size, 8);
  EXPECT_EQ(n.timeout_seconds, 2);
  EXPECT_THAT(n.acknowledged, ElementsAre(Option{"windowsize", "8"}, Option{"tsize", "1234"},
                                          Option{"blksize", "1408"}, Option{"timeout", "2"}));
}

TEST(TftpNegotiation, OnlyUnknownOptionsMeansNoOack) {
  EXPECT_THAT(NegotiateReadOptions({{"multicast", ""}}, 1, kLimits).acknowledged, IsEmpty());
}

}  // namespace
}  // namespace midwife::bootserver::tftp
