#include "bootserver/dhcp/dhcp_codec.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "bootserver/dhcp/dhcp_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bootserver/dhcp/golden_packets.h"
#include "tests/bootserver/test_bytes.h"

namespace midwife::bootserver::dhcp {
namespace {

using ::midwife::bootserver::testing::Bytes;
using ::midwife::bootserver::testing::FromHex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A 240-byte BOOTREQUEST header with the magic cookie, then `options`.
std::vector<uint8_t> Message(std::string_view options_hex, std::string_view file_hex = "",
                             std::string_view sname_hex = "") {
  std::vector<uint8_t> out = FromHex("01 01 06 00 00 00 00 2a 00*20 02 00 00 00 00 01 00*10");
  const std::vector<uint8_t> sname = FromHex(sname_hex);
  const std::vector<uint8_t> file = FromHex(file_hex);
  out.insert(out.end(), sname.begin(), sname.end());
  out.resize(44 + kSnameBytes, 0);
  out.insert(out.end(), file.begin(), file.end());
  out.resize(kFixedHeaderBytes, 0);
  const std::vector<uint8_t> tail = FromHex("63 82 53 63");
  out.insert(out.end(), tail.begin(), tail.end());
  const std::vector<uint8_t> options = FromHex(options_hex);
  out.insert(out.end(), options.begin(), options.end());
  return out;
}

TEST(DhcpCodecParse, ReadsTheFixedFieldsOfABiosPxeDiscover) {
  absl::StatusOr<DhcpPacket> p = Parse(FromHex(testing::kBiosPxeDiscover));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->op, kBootRequest);
  EXPECT_EQ(p->htype, kHtypeEthernet);
  EXPECT_EQ(p->hlen, 6);
  EXPECT_EQ(p->xid, 0xd50a3f19u);
  EXPECT_EQ(p->secs, 4);
  EXPECT_TRUE(p->broadcast());
  EXPECT_TRUE(IsZero(p->ciaddr));
  EXPECT_THAT(p->chaddr,
              ElementsAre(0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(p->sname, "");
  EXPECT_EQ(p->file, "");
  EXPECT_EQ(p->message_type(), static_cast<uint8_t>(MessageType::kDiscover));
  std::vector<uint8_t> codes;
  for (const DhcpOption& o : p->options) codes.push_back(o.code);
  EXPECT_THAT(codes, ElementsAre(53, 57, 55, 93, 94, 97, 60));
  EXPECT_EQ(p->OptionText(option::kVendorClass), "PXEClient:Arch:00000:UNDI:002001");
  EXPECT_EQ(p->FindOption(option::kClientUuid)->data.size(), 17u);
  EXPECT_EQ(p->FindOption(option::kParameterList)->data.size(), 34u);
}

TEST(DhcpCodecRoundTrip, GoldenRequestsSerializeBackToTheSameBytes) {
  for (std::string_view dump : {testing::kBiosPxeDiscover, testing::kUefiX64PxeDiscover,
                                testing::kIpxeDiscover, testing::kRelayedUefiDiscover}) {
    const std::vector<uint8_t> bytes = FromHex(dump);
    absl::StatusOr<DhcpPacket> p = Parse(bytes);
    ASSERT_TRUE(p.ok()) << p.status();
    absl::StatusOr<std::vector<uint8_t>> again = Serialize(*p);
    ASSERT_TRUE(again.ok()) << again.status();
    std::vector<uint8_t> expected = bytes;
    if (expected.size() < kMinBootpBytes) expected.resize(kMinBootpBytes, 0);
    EXPECT_EQ(*again, expected);
  }
}

TEST(DhcpCodecRoundTrip, ParseOfSerializeGivesThePacketBack) {
  DhcpPacket p;
  p.op = kBootReply;
  p.hops = 3;
  p.xid = 0x01020304;
  p.secs = 65535;
  p.flags = kBroadcastFlag;
  p.ciaddr = {192, 0, 2, 10};
  p.yiaddr = {192, 0, 2, 11};
  p.siaddr = {192, 0, 2, 1};
  p.giaddr = {198, 51, 100, 1};
  p.chaddr = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  p.hlen = 16;
  p.sname = std::string(63, 's');
  p.file = std::string(127, 'f');
  p.SetOption(option::kMessageType, std::vector<uint8_t>{2});
  p.SetOption(option::kBootfileName, "http://192.0.2.1:8080/boot/aa-bb-cc-dd-ee-ff/boot.ipxe");
  p.SetOption(option::kVendorSpecific, PxeBootFileOnlyVendorOptions());
  p.SetOption(200, std::vector<uint8_t>{});           // empty option
  p.SetOption(201, std::vector<uint8_t>(600, 0x5a));  // split into 255 + 255 + 90
  absl::StatusOr<std::vector<uint8_t>> bytes = Serialize(p);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<DhcpPacket> parsed = Parse(*bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, p);
}

TEST(DhcpCodecSerialize, PadsShortMessagesToTheBootpMinimum) {
  DhcpPacket p;
  p.SetOption(option::kMessageType, std::vector<uint8_t>{1});
  const std::vector<uint8_t> bytes = *Serialize(p);
  ASSERT_EQ(bytes.size(), kMinBootpBytes);
  EXPECT_EQ(bytes[240], 53);
  EXPECT_EQ(bytes[243], option::kEnd);
  EXPECT_EQ(bytes[299], option::kPad);
}

TEST(DhcpCodecSerialize, RefusesFieldsThatDoNotFit) {
  const struct {
    void (*mutate)(DhcpPacket&);
    std::string_view reason;
  } kCases[] = {
      {[](DhcpPacket& p) { p.hlen = 17; }, "hlen 17 exceeds 16"},
      {[](DhcpPacket& p) { p.sname = std::string(64, 'x'); }, "sname is 64 bytes, at most 63"},
      {[](DhcpPacket& p) { p.file = std::string(128, 'x'); }, "file is 128 bytes, at most 127"},
      {[](DhcpPacket& p) {
         p.options.push_back({0, {}});
       },
       "option code 0"},
      {[](DhcpPacket& p) {
         p.options.push_back({52, {1}});
       },
       "option code 52"},
      {[](DhcpPacket& p) {
         p.options.push_back({255, {}});
       },
       "option code 255"},
      {[](DhcpPacket& p) { p.SetOption(1, std::vector<uint8_t>(5000)); }, "at most 4096"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.reason);
    DhcpPacket p;
    c.mutate(p);
    absl::StatusOr<std::vector<uint8_t>> bytes = Serialize(p);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bytes.status().message(), HasSubstr(c.reason));
  }
}

TEST(DhcpCodecParse, ConcatenatesRepeatedOptionsInFirstPosition) {  // RFC 3396
  absl::StatusOr<DhcpPacket> p = Parse(Message("2b 02 06 01  35 01 01  2b 02 08 ff  ff"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->options.size(), 2u);
  EXPECT_EQ(p->options[0], (DhcpOption{43, {6, 1, 8, 255}}));
  EXPECT_EQ(p->options[1].code, 53);
}

TEST(DhcpCodecParse, ReadsOverloadedFileAndSnameFieldsAfterTheOptions) {
  // Option 52 = 3: options continue in file, then in sname (RFC 2131 §4.1).
  absl::StatusOr<DhcpPacket> p = Parse(
      Message("35 01 05  34 01 03  43 02 61 62  ff", "43 02 63 64  42 01 73  ff", "43 01 65  ff"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->file, "");
  EXPECT_EQ(p->sname, "");
  EXPECT_EQ(p->FindOption(option::kOverload), nullptr);
  EXPECT_EQ(p->OptionText(option::kBootfileName), "abcde");
  EXPECT_EQ(p->OptionText(option::kTftpServerName), "s");
}

TEST(DhcpCodecParse, KeepsFileAndSnameStringsWithoutOverload) {
  absl::StatusOr<DhcpPacket> p =
      Parse(Message("ff", "75 6e 64 69 00 6a 75 6e 6b", "62 6f 6f 74 73 72 76"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->file, "undi");  // up to the first NUL
  EXPECT_EQ(p->sname, "bootsrv");
}

TEST(DhcpCodecParse, ToleratesAMissingEndAndIgnoresBytesAfterIt) {
  EXPECT_EQ(Parse(Message("35 01 01"))->options.size(), 1u);
  EXPECT_EQ(Parse(Message("35 01 01 ff 01 63"))->options.size(), 1u);
  EXPECT_EQ(Parse(Message("35 01 01 ff 37 40"))->options.size(), 1u);
  EXPECT_EQ(Parse(Message(""))->options.size(), 0u);
}

TEST(DhcpCodecParse, RefusesMalformedMessagesNamingWhatAndWhy) {
  std::vector<uint8_t> bad_cookie = Message("ff");
  bad_cookie[239] = 0x64;
  std::vector<uint8_t> bad_hlen = Message("ff");
  bad_hlen[2] = 17;
  std::vector<uint8_t> huge = Message("ff");
  huge.resize(kMaxDhcpPacketBytes + 1, 0);
  const struct {
    std::vector<uint8_t> bytes;
    std::string_view reason;
  } kCases[] = {
      {{}, "truncated: 0 bytes, need at least 240"},
      {std::vector<uint8_t>(239, 0), "truncated: 239 bytes"},
      {huge, "4097 bytes, at most 4096"},
      {bad_cookie, "bad magic cookie"},
      {bad_hlen, "hlen 17 exceeds 16"},
      {Message("35"), "option 53 at offset 240 in options has no length byte"},
      {Message("35 01 01 3c 20 50 58 45"),
       "option 60 at offset 243 in options claims 32 bytes "
       "but only 3 remain"},
      {Message("34 01 04"), "option 52 (overload) must be one byte 1, 2 or 3"},
      {Message("34 02 01 01"), "option 52 (overload) must be one byte"},
      {Message("34 01 01", "34 01 02 ff"), "option 52 (overload) inside file"},
      {Message("34 01 01", "43 ff 61"), "option 67 at offset 108 in file claims 255 bytes"},
      {Message("34 01 02", "", "0c 7f 61"), "option 12 at offset 44 in sname claims 127"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.reason);
    absl::StatusOr<DhcpPacket> p = Parse(c.bytes);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(c.reason));
  }
}

TEST(DhcpCodecParse, NeverCrashesOnAnyPrefixOrCorruptionOfAGoldenPacket) {
  const std::vector<uint8_t> golden = FromHex(testing::kIpxeDiscover);
  for (size_t n = 0; n <= golden.size(); ++n) {
    (void)Parse(std::vector<uint8_t>(golden.begin(), golden.begin() + n));
  }
  for (size_t i = kMinDhcpPacketBytes; i < golden.size(); ++i) {
    for (uint8_t value : {0x00, 0x01, 0x34, 0x7f, 0xff}) {
      std::vector<uint8_t> corrupt = golden;
      corrupt[i] = value;
      (void)Parse(corrupt);
    }
  }
}

TEST(DhcpCodecParse, RandomOptionAreasNeverCrashAndWhatParsesRoundTrips) {
  std::mt19937 random(4578);  // fixed seed: the same packets every run
  constexpr uint8_t kInteresting[] = {0, 1, 2, 3, 52, 53, 60, 67, 93, 255};
  size_t parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> bytes = Message("");
    const bool overload_area = random() % 4 == 0;
    const size_t first = overload_area ? 44 : bytes.size();
    if (!overload_area) bytes.resize(bytes.size() + random() % 96);
    for (size_t at = first; at < bytes.size(); ++at) {
      if (!overload_area || at < kFixedHeaderBytes || at >= kMinDhcpPacketBytes) {
        bytes[at] = random() % 2 ? kInteresting[random() % 10] : static_cast<uint8_t>(random() % 8);
      }
    }
    if (overload_area) {
      const std::vector<uint8_t> overload = FromHex("34 01 03 ff");
      bytes.insert(bytes.end(), overload.begin(), overload.end());
    }
    absl::StatusOr<DhcpPacket> packet = Parse(bytes);
    if (!packet.ok()) continue;
    ++parsed;
    absl::StatusOr<std::vector<uint8_t>> again = Serialize(*packet);
    ASSERT_TRUE(again.ok()) << again.status();
    absl::StatusOr<DhcpPacket> reparsed = Parse(*again);
    ASSERT_TRUE(reparsed.ok()) << reparsed.status();
    EXPECT_EQ(*reparsed, *packet);
  }
  EXPECT_GT(parsed, 500u);  // the test does reach the happy paths
}

TEST(Ipv4, FormatsDottedQuad) {
  EXPECT_EQ(Ipv4ToString({192, 0, 2, 255}), "192.0.2.255");
  EXPECT_TRUE(IsZero({0, 0, 0, 0}));
  EXPECT_FALSE(IsZero({0, 0, 0, 1}));
}

}  // namespace
}  // namespace midwife::bootserver::dhcp
