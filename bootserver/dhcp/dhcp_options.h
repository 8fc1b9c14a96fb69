#ifndef MIDWIFE_BOOTSERVER_DHCP_DHCP_OPTIONS_H_
#define MIDWIFE_BOOTSERVER_DHCP_DHCP_OPTIONS_H_

// The DHCP options a PXE boot server reads and writes, and readers for the
// ones with structure. Pure, thread-safe. Readers never fail: an option that
// is malformed reads as absent, and the caller decides what absence means.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "bootserver/dhcp/dhcp_codec.h"

namespace midwife::bootserver::dhcp {

namespace option {
inline constexpr uint8_t kPad = 0;                 // RFC 2132 §3.1
inline constexpr uint8_t kVendorSpecific = 43;     // RFC 2132 §8.4; PXE sub-options
inline constexpr uint8_t kOverload = 52;           // RFC 2132 §9.3
inline constexpr uint8_t kMessageType = 53;        // RFC 2132 §9.6
inline constexpr uint8_t kServerId = 54;           // RFC 2132 §9.7
inline constexpr uint8_t kParameterList = 55;      // RFC 2132 §9.8
inline constexpr uint8_t kMaxMessageSize = 57;     // RFC 2132 §9.10
inline constexpr uint8_t kVendorClass = 60;        // RFC 2132 §9.13
inline constexpr uint8_t kClientId = 61;           // RFC 2132 §9.14
inline constexpr uint8_t kTftpServerName = 66;     // RFC 2132 §9.4
inline constexpr uint8_t kBootfileName = 67;       // RFC 2132 §9.5
inline constexpr uint8_t kUserClass = 77;          // RFC 3004
inline constexpr uint8_t kClientArch = 93;         // RFC 4578 §2.1
inline constexpr uint8_t kClientNdi = 94;          // RFC 4578 §2.2
inline constexpr uint8_t kClientUuid = 97;         // RFC 4578 §2.3
inline constexpr uint8_t kIpxeEncapsulated = 175;  // iPXE's own settings block
inline constexpr uint8_t kEnd = 255;               // RFC 2132 §3.2
}  // namespace option

// Option 53 values, RFC 2132 §9.6.
enum class MessageType : uint8_t {
  kDiscover = 1,
  kOffer = 2,
  kRequest = 3,
  kDecline = 4,
  kAck = 5,
  kNak = 6,
  kRelease = 7,
  kInform = 8,
};

// Option 60 prefixes: PXE firmware sends "PXEClient:Arch:xxxxx:UNDI:yyyzzz"
// (PXE 2.1 spec, RFC 4578 §2), UEFI HTTP boot "HTTPClient:Arch:xxxxx:..."
// (UEFI 2.x spec, "HTTP Boot"). A reply must carry the bare prefix.
inline constexpr std::string_view kPxeClient = "PXEClient";
inline constexpr std::string_view kHttpClient = "HTTPClient";

// PXE sub-options of option 43 (PXE 2.1 spec, table 2-1).
inline constexpr uint8_t kPxeDiscoveryControl = 6;
// Discovery control bit 3: when a boot file name is present, download and
// run it at once: no boot server discovery, no menu, no prompt.
inline constexpr uint8_t kPxeUseBootFile = 1 << 3;

// Option 60 starts with `prefix` (case-sensitive, as firmware writes it).
bool VendorClassStartsWith(const DhcpPacket& packet, std::string_view prefix);

// The client's architecture: the first code of option 93 (RFC 4578 §2.1,
// a list of 16-bit codes), else the Arch field of a PXEClient/HTTPClient
// vendor class (5 decimal digits), else nullopt.
std::optional<uint16_t> ClientArchitecture(const DhcpPacket& packet);

// The client is iPXE: option 175 present, or user class (77) "iPXE", as iPXE
// sends it (the bare string) or as an RFC 3004 list of length-prefixed classes.
bool IsIpxeClient(const DhcpPacket& packet);

// Option 43 data telling a PXE ROM to boot the file at once (see
// kPxeUseBootFile): sub-option 6 = 8, then end.
std::vector<uint8_t> PxeBootFileOnlyVendorOptions();

}  // namespace midwife::bootserver::dhcp

#endif  // MIDWIFE_BOOTSERVER_DHCP_DHCP_OPTIONS_H_
