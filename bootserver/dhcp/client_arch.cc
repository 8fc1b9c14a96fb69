#include "bootserver/dhcp/client_arch.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace midwife::bootserver::dhcp {
namespace {

struct ArchEntry {
  std::string_view name;
  bool http;
};

// IANA Processor Architecture Types, in code order 0..41.
constexpr std::array<ArchEntry, arch::kLastRegistered + 1> kRegistry = {{
    {"x86 BIOS", false},
    {"NEC/PC98 (DEPRECATED)", false},
    {"Itanium", false},
    {"DEC Alpha (DEPRECATED)", false},
    {"Arc x86 (DEPRECATED)", false},
    {"Intel Lean Client (DEPRECATED)", false},
    {"x86 UEFI", false},
    {"x64 UEFI", false},
    {"EFI Xscale (DEPRECATED)", false},
    {"EBC", false},
    {"ARM 32-bit UEFI", false},
    {"ARM 64-bit UEFI", false},
    {"PowerPC Open Firmware", false},
    {"PowerPC ePAPR", false},
    {"POWER OPAL v3", false},
    {"x86 UEFI boot from HTTP", true},
    {"x64 UEFI boot from HTTP", true},
    {"EBC boot from HTTP", true},
    {"ARM UEFI 32 boot from HTTP", true},
    {"ARM UEFI 64 boot from HTTP", true},
    {"PC/AT BIOS boot from HTTP", true},
    {"ARM 32 uboot", false},
    {"ARM 64 uboot", false},
    {"ARM uboot 32 boot from HTTP", true},
    {"ARM uboot 64 boot from HTTP", true},
    {"RISC-V 32-bit UEFI", false},
    {"RISC-V 32-bit UEFI boot from HTTP", true},
    {"RISC-V 64-bit UEFI", false},
    {"RISC-V 64-bit UEFI boot from HTTP", true},
    {"RISC-V 128-bit UEFI", false},
    {"RISC-V 128-bit UEFI boot from HTTP", true},
    {"s390 Basic", false},
    {"s390 Extended", false},
    {"MIPS 32-bit UEFI", false},
    {"MIPS 64-bit UEFI", false},
    {"Sunway 32-bit UEFI", false},
    {"Sunway 64-bit UEFI", false},
    {"LoongArch 32-bit UEFI", false},
    {"LoongArch 32-bit UEFI boot from HTTP", true},
    {"LoongArch 64-bit UEFI", false},
    {"LoongArch 64-bit UEFI boot from HTTP", true},
    {"ARM rpiboot", false},
}};

// The firmware family an HTTP code boots from: its PXE sibling.
uint16_t WithoutHttp(uint16_t code) {
  switch (code) {
    case arch::kX86UefiHttp:
      return arch::kX86Uefi;
    case arch::kX64UefiHttp:
      return arch::kX64Uefi;
    case arch::kEbcHttp:
      return arch::kEbc;
    case arch::kArm32UefiHttp:
      return arch::kArm32Uefi;
    case arch::kArm64UefiHttp:
      return arch::kArm64Uefi;
    case arch::kX86BiosHttp:
      return arch::kX86Bios;
    default:
      return code;
  }
}

}  // namespace

std::string_view ClientArchName(uint16_t code) {
  return code < kRegistry.size() ? kRegistry[code].name : "unassigned";
}

bool IsHttpBootArch(uint16_t code) { return code < kRegistry.size() && kRegistry[code].http; }

BootPlan PlanBoot(uint16_t code, bool http_client, const BootFiles& files) {
  const bool http = http_client || IsHttpBootArch(code);
  const uint16_t family = WithoutHttp(code);
  const std::string* file = nullptr;
  switch (family) {
    case arch::kX86Bios:
      // A BIOS PXE ROM runs an NBP; BIOS HTTP boot has no use for one.
      if (!http) file = &files.bios;
      break;
    case arch::kX64Uefi:
    case arch::kEbc:
      file = &files.x64_uefi;
      break;
    case arch::kX86Uefi:
      file = &files.x86_uefi;
      break;
    case arch::kArm64Uefi:
      file = &files.arm64_uefi;
      break;
    default:
      break;
  }
  const std::string label = absl::StrCat("arch ", code, " (", std::string(ClientArchName(code)),
                                         http ? ", HTTP boot)" : ")");
  if (file == nullptr) {
    return {BootPlan::Transport::kNone, "", absl::StrCat("no boot file for ", label)};
  }
  if (file->empty()) {
    return {BootPlan::Transport::kNone, "", absl::StrCat("no boot file configured for ", label)};
  }
  return {http ? BootPlan::Transport::kHttp : BootPlan::Transport::kTftp, *file, ""};
}

}  // namespace midwife::bootserver::dhcp
