#ifndef MIDWIFE_BOOTSERVER_DHCP_CLIENT_ARCH_H_
#define MIDWIFE_BOOTSERVER_DHCP_CLIENT_ARCH_H_

// Client system architecture (DHCP option 93, RFC 4578 §2.1) and what a
// client of each kind is told to boot. Pure, thread-safe.
//
// Codes are those of the IANA "Processor Architecture Types" registry
// (dhcpv6-parameters, processor-architecture), 0-41. RFC 4578 itself listed 7
// as "EFI BC" and 9 as "EFI x86-64"; its erratum 4624 and the registry swap
// them, and firmware in the field sends both 7 and 9 for x64 UEFI, so both
// get the x64 UEFI file.
//
// Boot plan:
//   0  x86 BIOS                         TFTP  files.bios      (undionly.kpxe)
//   7, 9  x64 UEFI / EBC                TFTP  files.x64_uefi  (ipxe.efi)
//   6  x86 (IA32) UEFI                  TFTP  files.x86_uefi  (none by default)
//   11 ARM64 UEFI                       TFTP  files.arm64_uefi (none by default)
//   16, 17 x64 UEFI / EBC HTTP          HTTP  files.x64_uefi
//   15 x86 UEFI HTTP, 19 ARM64 UEFI HTTP: HTTP with their arch's file
//   any code with vendor class HTTPClient: HTTP with the file of its arch
//   anything else (Itanium, ARM32, PowerPC, RISC-V, s390, MIPS, LoongArch,
//   U-Boot, rpiboot, unregistered codes): none.
// Debian's ipxe package ships x86 binaries only (undionly.kpxe, ipxe.efi,
// snponly.efi for x86_64), so x86_uefi and arm64_uefi default to "" and such
// clients get no boot file; the shell logs it. An operator who builds iPXE's
// bin-arm64-efi/snponly.efi sets arm64_uefi.

#include <cstdint>
#include <string>
#include <string_view>

namespace midwife::bootserver::dhcp {

// The registry's codes, by name.
namespace arch {
inline constexpr uint16_t kX86Bios = 0;
inline constexpr uint16_t kX86Uefi = 6;
inline constexpr uint16_t kX64Uefi = 7;
inline constexpr uint16_t kEbc = 9;
inline constexpr uint16_t kArm32Uefi = 10;
inline constexpr uint16_t kArm64Uefi = 11;
inline constexpr uint16_t kX86UefiHttp = 15;
inline constexpr uint16_t kX64UefiHttp = 16;
inline constexpr uint16_t kEbcHttp = 17;
inline constexpr uint16_t kArm32UefiHttp = 18;
inline constexpr uint16_t kArm64UefiHttp = 19;
inline constexpr uint16_t kX86BiosHttp = 20;
inline constexpr uint16_t kLastRegistered = 41;  // ARM rpiboot
}  // namespace arch

// The registry's description ("x64 UEFI", "ARM UEFI 64 boot from HTTP"),
// or "unassigned" for a code it does not list.
std::string_view ClientArchName(uint16_t code);

// The registry marks this code as booting over HTTP.
bool IsHttpBootArch(uint16_t code);

struct BootFiles {
  std::string bios = "undionly.kpxe";
  std::string x64_uefi = "ipxe.efi";
  std::string x86_uefi;    // Debian ships no IA32 EFI iPXE
  std::string arm64_uefi;  // Debian ships no ARM64 iPXE, e.g. snponly.efi when built
};

struct BootPlan {
  enum class Transport { kNone, kTftp, kHttp };
  Transport transport = Transport::kNone;
  std::string file;    // a file name for TFTP and HTTP; "" for kNone
  std::string reason;  // for kNone: why, for the log
  friend bool operator==(const BootPlan&, const BootPlan&) = default;
};

// What a client of `arch` boots; `http_client` when its vendor class is
// HTTPClient (UEFI HTTP boot), which selects HTTP whatever the code says.
BootPlan PlanBoot(uint16_t arch, bool http_client, const BootFiles& files);

}  // namespace midwife::bootserver::dhcp

#endif  // MIDWIFE_BOOTSERVER_DHCP_CLIENT_ARCH_H_
