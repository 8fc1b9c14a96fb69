#include "core/mac_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace midwife {
namespace {

using ::testing::HasSubstr;

struct GoodForm {
  const char* text;
  const char* canonical;
};

class AcceptsEveryForm : public ::testing::TestWithParam<GoodForm> {};

TEST_P(AcceptsEveryForm, ToOneCanonicalKey) {
  auto mac = MacAddress::Parse(GetParam().text);
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ(mac->ToString(), GetParam().canonical);
}

TEST_P(AcceptsEveryForm, AndRendersItDashedAndAsBootif) {
  auto mac = MacAddress::Parse(GetParam().text);
  ASSERT_TRUE(mac.ok()) << mac.status();
  std::string dashed = GetParam().canonical;
  std::replace(dashed.begin(), dashed.end(), ':', '-');
  EXPECT_EQ(mac->ToDashed(), dashed);
  EXPECT_EQ(mac->ToBootif(), "01-" + dashed);
}

INSTANTIATE_TEST_SUITE_P(
    MacForms, AcceptsEveryForm,
    ::testing::Values(GoodForm{"AA:BB:CC:DD:EE:F0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"aa:bb:cc:dd:ee:f0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"aa-bb-cc-dd-ee-f0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"AA-bb-CC-dd-EE-f0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"aabb.ccdd.eef0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"AABB.CCDD.EEF0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"aabbccddeef0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"01-aa-bb-cc-dd-ee-f0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"01-AA-BB-CC-DD-EE-F0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"AABBCCDDEEF0", "aa:bb:cc:dd:ee:f0"},
                      GoodForm{"00:50:56:01:02:03", "00:50:56:01:02:03"}));

class RefusesBadMac : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(RefusesBadMac, WithInvalidArgumentNamingTheValue) {
  auto [text, reason] = GetParam();
  auto mac = MacAddress::Parse(text);
  ASSERT_FALSE(mac.ok()) << text;
  EXPECT_EQ(mac.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mac.status().message()), HasSubstr(std::string("\"") + text + "\""));
  EXPECT_THAT(std::string(mac.status().message()), HasSubstr(reason));
}

INSTANTIATE_TEST_SUITE_P(
    BadMacs, RefusesBadMac,
    ::testing::Values(std::pair{"", "expected"}, std::pair{"aa:bb:cc:dd:ee", "expected"},
                      std::pair{"aa:bb:cc:dd:ee:f0:11", "expected"},
                      std::pair{"aa:bb:cc:dd:ee:fg", "expected"},
                      std::pair{"aa:bb-cc:dd:ee:f0", "expected"},
                      std::pair{"aabb.ccdd-eef0", "expected"},
                      std::pair{"02-aa-bb-cc-dd-ee-f0", "expected"},
                      std::pair{"01:aa:bb:cc:dd:ee:f0", "expected"},
                      std::pair{" aa:bb:cc:dd:ee:f0", "expected"},
                      std::pair{"ff:ff:ff:ff:ff:ff", "broadcast"},
                      std::pair{"01:00:5e:00:00:01", "multicast"},
                      std::pair{"33-33-00-00-00-01", "multicast"},
                      std::pair{"00:00:00:00:00:00", "all-zero"},
                      std::pair{"000000000000", "all-zero"},
                      std::pair{"FF-FF-FF-FF-FF-FF", "broadcast"},
                      std::pair{"01-01-80-c2-00-00-0e", "multicast"},
                      std::pair{"aabbccddeef", "expected"},
                      std::pair{"aabbccddeef01", "expected"},
                      std::pair{"a:bb:cc:dd:ee:f0", "expected"},
                      std::pair{"0xaabbccddeef0", "expected"},
                      std::pair{"aabbccddeezz", "expected"},
                      std::pair{"aa:bb:cc dd:ee:f0", "expected"},
                      std::pair{"aa:bb:cc:dd:ee:f0\n", "expected"},
                      std::pair{"aa.bbcc.ddeef0", "expected"},
                      std::pair{"aa.bb.cc.dd.ee.f0", "expected"},
                      std::pair{"00-aa-bb-cc-dd-ee-f0", "expected"},
                      std::pair{"06-aa-bb-cc-dd-ee-f0", "expected"},
                      std::pair{"01-aa:bb:cc:dd:ee:f0", "expected"},
                      std::pair{"01-aa-bb-cc-dd-ee-f", "expected"},
                      std::pair{"01-", "expected"}));

TEST(MacAddress, RendersDashedAndBootifForms) {
  auto mac = MacAddress::Parse("00:50:56:AB:CD:EF");
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(mac->ToDashed(), "00-50-56-ab-cd-ef");
  EXPECT_EQ(mac->ToBootif(), "01-00-50-56-ab-cd-ef");
  EXPECT_EQ(*MacAddress::Parse(mac->ToBootif()), *mac);
}

TEST(MacAddress, OrdersByBytes) {
  EXPECT_LT(*MacAddress::Parse("02:00:00:00:00:01"), *MacAddress::Parse("02:00:00:00:01:00"));
  EXPECT_NE(*MacAddress::Parse("02:00:00:00:00:01"), *MacAddress::Parse("02:00:00:00:00:02"));
}

TEST(MacAddress, FromBytesAppliesTheSameUnicastRules) {
  EXPECT_TRUE(MacAddress::FromBytes({0x00, 0x50, 0x56, 1, 2, 3}).ok());
  EXPECT_EQ(MacAddress::FromBytes({0x01, 0x00, 0x5e, 0, 0, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MacAddress::FromBytes({0, 0, 0, 0, 0, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace midwife
