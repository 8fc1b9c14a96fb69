#include "bootserver/dhcp/proxy_dhcp.h"

#include <cstdlib>
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

using ::midwife::bootserver::testing::FromHex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = ReplyDestination::Kind;

const Ipv4Address kServer = {192, 168, 10, 5};

ProxyPolicy Policy() {
  ProxyPolicy policy;
  policy.server = kServer;
  policy.http_port = 8080;
  return policy;
}

DhcpPacket Golden(std::string_view dump) {
  absl::StatusOr<DhcpPacket> p = Parse(FromHex(dump));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : DhcpPacket{};
}

ProxyReply ReplyOrDie(const DhcpPacket& request, ProxyPort port = ProxyPort::kDhcp67,
                      const ProxyPolicy& policy = Policy()) {
  absl::StatusOr<ProxyReply> reply = MakeProxyReply(request, port, policy);
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (!reply.ok()) std::abort();
  // Every reply must also be a valid message on the wire.
  absl::StatusOr<std::vector<uint8_t>> bytes = Serialize(reply->packet);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *std::move(reply);
}

std::vector<uint8_t> OptionData(const DhcpPacket& p, uint8_t code) {
  const DhcpOption* o = p.FindOption(code);
  return o == nullptr ? std::vector<uint8_t>{} : o->data;
}

TEST(ProxyDhcp, OffersUndionlyToABiosPxeRomWithoutGivingAnAddress) {
  const DhcpPacket request = Golden(testing::kBiosPxeDiscover);
  const ProxyReply r = ReplyOrDie(request);
  const DhcpPacket& p = r.packet;
  EXPECT_EQ(p.op, kBootReply);
  EXPECT_EQ(p.xid, request.xid);
  EXPECT_EQ(p.flags, request.flags);
  EXPECT_EQ(p.chaddr, request.chaddr);
  EXPECT_TRUE(IsZero(p.yiaddr));
  EXPECT_TRUE(IsZero(p.giaddr));
  EXPECT_EQ(p.siaddr, kServer);
  EXPECT_EQ(p.file, "undionly.kpxe");
  EXPECT_EQ(p.message_type(), static_cast<uint8_t>(MessageType::kOffer));
  EXPECT_THAT(OptionData(p, option::kServerId), ElementsAre(192, 168, 10, 5));
  EXPECT_EQ(p.OptionText(option::kVendorClass), "PXEClient");
  EXPECT_THAT(OptionData(p, option::kVendorSpecific), ElementsAre(6, 1, 8, 255));
  EXPECT_EQ(p.OptionText(option::kBootfileName), "undionly.kpxe");
  EXPECT_EQ(OptionData(p, option::kClientUuid), OptionData(request, option::kClientUuid));
  EXPECT_EQ(r.mac.ToString(), "52:54:00:12:34:56");
  EXPECT_EQ(r.boot, "undionly.kpxe");
  EXPECT_EQ(r.destination.kind, Kind::kBroadcast);
  EXPECT_EQ(r.destination.address, (Ipv4Address{255, 255, 255, 255}));
  EXPECT_EQ(r.destination.port, kDhcpClientPort);
}

TEST(ProxyDhcp, OffersIpxeEfiToAUefiX64Client) {
  const ProxyReply r = ReplyOrDie(Golden(testing::kUefiX64PxeDiscover));
  EXPECT_EQ(r.packet.file, "ipxe.efi");
  EXPECT_EQ(r.packet.OptionText(option::kBootfileName), "ipxe.efi");
  EXPECT_EQ(r.packet.flags, 0);
  // Broadcast flag clear, but the client has no address: still broadcast.
  EXPECT_EQ(r.destination.kind, Kind::kBroadcast);
}

TEST(ProxyDhcp, GivesIpxeItsOwnScriptUrlSoItDoesNotChainloadAgain) {
  const ProxyReply r = ReplyOrDie(Golden(testing::kIpxeDiscover));
  const std::string url = "http://192.168.10.5:8080/boot/52-54-00-12-34-56/boot.ipxe";
  EXPECT_EQ(r.packet.file, url);
  EXPECT_EQ(r.packet.OptionText(option::kBootfileName), url);
  EXPECT_EQ(r.boot, url);
  EXPECT_NE(r.packet.file, "undionly.kpxe");
}

TEST(ProxyDhcp, ScriptUrlComesFromThePolicyHookWhenSet) {
  ProxyPolicy policy = Policy();
  policy.ipxe_script_url = [](const MacAddress& mac) {
    return "https://boot.example/" + mac.ToDashed() + ".ipxe";
  };
  DhcpPacket request = Golden(testing::kUefiX64PxeDiscover);
  request.SetOption(option::kUserClass, "iPXE");
  EXPECT_EQ(ReplyOrDie(request, ProxyPort::kDhcp67, policy).boot,
            "https://boot.example/52-54-00-ab-cd-ef.ipxe");
}

TEST(ProxyDhcp, RelayedRequestIsAnsweredThroughTheRelay) {
  const DhcpPacket request = Golden(testing::kRelayedUefiDiscover);
  const ProxyReply r = ReplyOrDie(request);
  EXPECT_EQ(r.packet.giaddr, (Ipv4Address{10, 20, 30, 1}));
  EXPECT_EQ(r.packet.file, "ipxe.efi");
  EXPECT_EQ(r.destination.kind, Kind::kRelay);
  EXPECT_EQ(r.destination.address, (Ipv4Address{10, 20, 30, 1}));
  EXPECT_EQ(r.destination.port, kDhcpServerPort);
  EXPECT_EQ(r.mac.ToString(), "00:25:90:aa:bb:cc");
}

TEST(ProxyDhcp, AnswersARequestOnPort4011WithAnAckToItsSource) {
  DhcpPacket request = Golden(testing::kBiosPxeDiscover);
  request.SetOption(option::kMessageType, std::vector<uint8_t>{3});
  request.ciaddr = {192, 168, 10, 77};
  const ProxyReply r = ReplyOrDie(request, ProxyPort::kPxe4011);
  EXPECT_EQ(r.packet.message_type(), static_cast<uint8_t>(MessageType::kAck));
  EXPECT_EQ(r.packet.ciaddr, request.ciaddr);
  EXPECT_TRUE(IsZero(r.packet.yiaddr));
  EXPECT_EQ(r.packet.file, "undionly.kpxe");
  EXPECT_EQ(r.destination.kind, Kind::kRequestSource);
}

TEST(ProxyDhcp, AnswersARequestOnPort67OnlyWhenItNamesThisServer) {
  DhcpPacket request = Golden(testing::kBiosPxeDiscover);
  request.SetOption(option::kMessageType, std::vector<uint8_t>{3});
  request.ciaddr = {192, 168, 10, 77};
  request.SetOption(option::kServerId, std::vector<uint8_t>{192, 168, 10, 5});
  const ProxyReply r = ReplyOrDie(request);
  EXPECT_EQ(r.packet.message_type(), static_cast<uint8_t>(MessageType::kAck));
  EXPECT_EQ(r.destination.kind, Kind::kClient);
  EXPECT_EQ(r.destination.address, (Ipv4Address{192, 168, 10, 77}));
  EXPECT_EQ(r.destination.port, kDhcpClientPort);

  request.SetOption(option::kServerId, std::vector<uint8_t>{192, 168, 10, 1});  // the site's DHCP
  absl::StatusOr<ProxyReply> ignored = MakeProxyReply(request, ProxyPort::kDhcp67, Policy());
  EXPECT_EQ(ignored.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ignored.status().message(), HasSubstr("another DHCP server"));
}

TEST(ProxyDhcp, HttpBootClientGetsAnHttpUrlAndHttpClientVendorClass) {
  DhcpPacket request = Golden(testing::kUefiX64PxeDiscover);
  request.SetOption(option::kVendorClass, "HTTPClient:Arch:00016:UNDI:003000");
  request.SetOption(option::kClientArch, std::vector<uint8_t>{0, 16});
  const ProxyReply r = ReplyOrDie(request);
  EXPECT_EQ(r.packet.file, "http://192.168.10.5:8080/ipxe.efi");
  EXPECT_EQ(r.packet.OptionText(option::kVendorClass), "HTTPClient");
  EXPECT_EQ(r.packet.FindOption(option::kVendorSpecific), nullptr);
}

TEST(ProxyDhcp, FallsBackToTheVendorClassArchWithoutOption93) {
  DhcpPacket request = Golden(testing::kUefiX64PxeDiscover);
  std::erase_if(request.options, [](const DhcpOption& o) { return o.code == 93; });
  ASSERT_EQ(request.FindOption(option::kClientArch), nullptr);
  EXPECT_EQ(ReplyOrDie(request).boot, "ipxe.efi");
}

TEST(ProxyDhcp, LongScriptUrlGoesInOption67Only) {
  ProxyPolicy policy = Policy();
  policy.ipxe_script_url = [](const MacAddress&) { return "http://h/" + std::string(200, 'x'); };
  const ProxyReply r = ReplyOrDie(Golden(testing::kIpxeDiscover), ProxyPort::kDhcp67, policy);
  EXPECT_EQ(r.packet.file, "");
  EXPECT_EQ(r.packet.OptionText(option::kBootfileName).size(), 209u);
}

TEST(ProxyDhcp, IgnoresWhatIsNotForItSayingWhy) {
  const DhcpPacket bios = Golden(testing::kBiosPxeDiscover);
  const struct {
    std::string_view name;
    void (*mutate)(DhcpPacket&);
    ProxyPort port;
    absl::StatusCode code;
    std::string_view reason;
  } kCases[] = {
      {"plain DHCP client", [](DhcpPacket& p) { p.SetOption(option::kVendorClass, "MSFT 5.0"); },
       ProxyPort::kDhcp67, absl::StatusCode::kFailedPrecondition, "not a PXE client"},
      {"no vendor class",
       [](DhcpPacket& p) { std::erase_if(p.options, [](auto& o) { return o.code == 60; }); },
       ProxyPort::kDhcp67, absl::StatusCode::kFailedPrecondition, "not a PXE client"},
      {"a reply", [](DhcpPacket& p) { p.op = kBootReply; }, ProxyPort::kDhcp67,
       absl::StatusCode::kFailedPrecondition, "not a BOOTREQUEST"},
      {"plain BOOTP", [](DhcpPacket& p) { p.options.erase(p.options.begin()); }, ProxyPort::kDhcp67,
       absl::StatusCode::kFailedPrecondition, "no DHCP message type"},
      {"RELEASE", [](DhcpPacket& p) { p.SetOption(53, std::vector<uint8_t>{7}); },
       ProxyPort::kDhcp67, absl::StatusCode::kFailedPrecondition, "message type 7 on port 67"},
      {"DISCOVER to 4011", [](DhcpPacket&) {}, ProxyPort::kPxe4011,
       absl::StatusCode::kFailedPrecondition, "message type 1 on port 4011"},
      {"REQUEST without server id on 67",
       [](DhcpPacket& p) { p.SetOption(53, std::vector<uint8_t>{3}); }, ProxyPort::kDhcp67,
       absl::StatusCode::kFailedPrecondition, "another DHCP server"},
      {"token ring", [](DhcpPacket& p) { p.htype = 6; }, ProxyPort::kDhcp67,
       absl::StatusCode::kInvalidArgument, "hardware type 6 length 6 is not Ethernet"},
      {"multicast MAC", [](DhcpPacket& p) { p.chaddr[0] = 0x01; }, ProxyPort::kDhcp67,
       absl::StatusCode::kInvalidArgument, "01:54:00:12:34:56"},
      {"no architecture",
       [](DhcpPacket& p) {
         std::erase_if(p.options, [](auto& o) { return o.code == 93; });
         p.SetOption(option::kVendorClass, "PXEClient");
       },
       ProxyPort::kDhcp67, absl::StatusCode::kInvalidArgument, "no client architecture"},
      {"ARM64 with Debian's iPXE",
       [](DhcpPacket& p) {
         p.SetOption(93, std::vector<uint8_t>{0, 11});
       },
       ProxyPort::kDhcp67, absl::StatusCode::kNotFound,
       "52:54:00:12:34:56: no boot file configured for arch 11 (ARM 64-bit UEFI)"},
      {"PowerPC",
       [](DhcpPacket& p) {
         p.SetOption(93, std::vector<uint8_t>{0, 12});
       },
       ProxyPort::kDhcp67, absl::StatusCode::kNotFound, "no boot file for arch 12"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    DhcpPacket request = bios;
    c.mutate(request);
    absl::StatusOr<ProxyReply> reply = MakeProxyReply(request, c.port, Policy());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), c.code);
    EXPECT_THAT(reply.status().message(), HasSubstr(c.reason));
  }
}

TEST(ProxyDhcp, DefaultScriptUrlUsesTheDashedMac) {
  EXPECT_EQ(DefaultIpxeScriptUrl({10, 0, 0, 1}, 80, *MacAddress::Parse("AA:BB:CC:00:11:22")),
            "http://10.0.0.1:80/boot/aa-bb-cc-00-11-22/boot.ipxe");
}

}  // namespace
}  // namespace midwife::bootserver::dhcp
