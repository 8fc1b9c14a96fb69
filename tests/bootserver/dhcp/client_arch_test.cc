#include "bootserver/dhcp/client_arch.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bootserver/dhcp/dhcp_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver::dhcp {
namespace {

using ::testing::HasSubstr;
using Transport = BootPlan::Transport;

TEST(ClientArch, NamesEveryRegisteredCode) {
  const struct {
    uint16_t code;
    std::string_view name;
    bool http;
  } kCases[] = {
      {0, "x86 BIOS", false},
      {1, "NEC/PC98 (DEPRECATED)", false},
      {2, "Itanium", false},
      {6, "x86 UEFI", false},
      {7, "x64 UEFI", false},
      {9, "EBC", false},
      {10, "ARM 32-bit UEFI", false},
      {11, "ARM 64-bit UEFI", false},
      {14, "POWER OPAL v3", false},
      {15, "x86 UEFI boot from HTTP", true},
      {16, "x64 UEFI boot from HTTP", true},
      {18, "ARM UEFI 32 boot from HTTP", true},
      {19, "ARM UEFI 64 boot from HTTP", true},
      {20, "PC/AT BIOS boot from HTTP", true},
      {22, "ARM 64 uboot", false},
      {27, "RISC-V 64-bit UEFI", false},
      {30, "RISC-V 128-bit UEFI boot from HTTP", true},
      {31, "s390 Basic", false},
      {36, "Sunway 64-bit UEFI", false},
      {40, "LoongArch 64-bit UEFI boot from HTTP", true},
      {41, "ARM rpiboot", false},
      {42, "unassigned", false},
      {65535, "unassigned", false},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.code);
    EXPECT_EQ(ClientArchName(c.code), c.name);
    EXPECT_EQ(IsHttpBootArch(c.code), c.http);
  }
  for (uint16_t code = 0; code <= arch::kLastRegistered; ++code) {
    EXPECT_NE(ClientArchName(code), "unassigned") << code;
  }
}

TEST(ClientArch, PlansTheBootFileByArchitecture) {
  const BootFiles files;  // Debian's: x86 only
  const struct {
    uint16_t code;
    bool http_client;
    BootPlan::Transport transport;
    std::string_view file;
  } kCases[] = {
      {0, false, Transport::kTftp, "undionly.kpxe"},
      {7, false, Transport::kTftp, "ipxe.efi"},
      {9, false, Transport::kTftp, "ipxe.efi"},  // RFC 4578's x64 code, still in use
      {16, false, Transport::kHttp, "ipxe.efi"},
      {17, false, Transport::kHttp, "ipxe.efi"},
      {7, true, Transport::kHttp, "ipxe.efi"},  // vendor class HTTPClient
      {0, true, Transport::kNone, ""},          // BIOS HTTP boot has no use for an NBP
      {20, false, Transport::kNone, ""},
      {6, false, Transport::kNone, ""},  // no IA32 EFI iPXE in Debian
      {15, false, Transport::kNone, ""},
      {11, false, Transport::kNone, ""},  // no ARM64 iPXE in Debian
      {19, false, Transport::kNone, ""},
      {10, false, Transport::kNone, ""},
      {2, false, Transport::kNone, ""},
      {27, false, Transport::kNone, ""},
      {41, false, Transport::kNone, ""},
      {999, false, Transport::kNone, ""},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(::testing::Message() << c.code << (c.http_client ? " HTTPClient" : ""));
    const BootPlan plan = PlanBoot(c.code, c.http_client, files);
    EXPECT_EQ(plan.transport, c.transport);
    EXPECT_EQ(plan.file, c.file);
    if (c.transport == Transport::kNone) {
      EXPECT_THAT(plan.reason, HasSubstr("no boot file"));
    }
  }
}

TEST(ClientArch, UsesConfiguredFilesForArm64AndIa32) {
  BootFiles files;
  files.arm64_uefi = "arm64/snponly.efi";
  files.x86_uefi = "i386/ipxe.efi";
  EXPECT_EQ(PlanBoot(11, false, files), (BootPlan{Transport::kTftp, "arm64/snponly.efi", ""}));
  EXPECT_EQ(PlanBoot(19, false, files), (BootPlan{Transport::kHttp, "arm64/snponly.efi", ""}));
  EXPECT_EQ(PlanBoot(6, false, files), (BootPlan{Transport::kTftp, "i386/ipxe.efi", ""}));
}

TEST(ClientArch, ExplainsWhyThereIsNoBootFile) {
  EXPECT_EQ(PlanBoot(11, false, BootFiles{}).reason,
            "no boot file configured for arch 11 (ARM 64-bit UEFI)");
  EXPECT_EQ(PlanBoot(31, false, BootFiles{}).reason, "no boot file for arch 31 (s390 Basic)");
  EXPECT_EQ(PlanBoot(19, false, BootFiles{}).reason,
            "no boot file configured for arch 19 (ARM UEFI 64 boot from HTTP, HTTP boot)");
}

TEST(ClientArchitectureOption, ReadsOption93ElseTheVendorClassArchField) {
  const struct {
    std::vector<uint8_t> option93;  // empty: absent
    std::string vendor_class;
    std::optional<uint16_t> arch;
  } kCases[] = {
      {{0, 7}, "PXEClient:Arch:00000:UNDI:002001", 7},  // option 93 wins
      {{0, 11, 0, 7}, "", 11},                          // a list: the first
      {{}, "PXEClient:Arch:00007:UNDI:003000", 7},
      {{}, "HTTPClient:Arch:00016:UNDI:003000", 16},
      {{}, "PXEClient:Arch:00000", 0},
      {{}, "PXEClient:Arch:0000", std::nullopt},
      {{}, "PXEClient:Arch:0x007:UNDI", std::nullopt},
      {{}, "PXEClient:Arch:99999:UNDI", std::nullopt},
      {{}, "PXEClient", std::nullopt},
      {{7}, "", std::nullopt},  // malformed 93 reads as absent
      {{0, 7, 0}, "PXEClient:Arch:00009:UNDI", 9},
      {{}, "", std::nullopt},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.vendor_class);
    DhcpPacket p;
    if (!c.option93.empty()) p.SetOption(option::kClientArch, c.option93);
    if (!c.vendor_class.empty()) p.SetOption(option::kVendorClass, c.vendor_class);
    EXPECT_EQ(ClientArchitecture(p), c.arch);
  }
}

TEST(IpxeClient, RecognisesUserClassIpxeInBothFormsAndOption175) {
  const auto with = [](uint8_t code, std::vector<uint8_t> data) {
    DhcpPacket p;
    p.SetOption(code, std::move(data));
    return IsIpxeClient(p);
  };
  EXPECT_TRUE(with(option::kUserClass, {'i', 'P', 'X', 'E'}));
  EXPECT_TRUE(with(option::kUserClass, {4, 'i', 'P', 'X', 'E'}));  // RFC 3004
  EXPECT_TRUE(with(option::kUserClass, {2, 'a', 'b', 4, 'i', 'P', 'X', 'E'}));
  EXPECT_TRUE(with(option::kIpxeEncapsulated, {0x13, 1, 1}));
  EXPECT_FALSE(with(option::kUserClass, {'g', 'P', 'X', 'E'}));
  EXPECT_FALSE(with(option::kUserClass, {9, 'i', 'P', 'X', 'E'}));  // overruns
  EXPECT_FALSE(with(option::kUserClass, {0}));
  EXPECT_FALSE(with(option::kVendorClass, {'i', 'P', 'X', 'E'}));
}

}  // namespace
}  // namespace midwife::bootserver::dhcp
