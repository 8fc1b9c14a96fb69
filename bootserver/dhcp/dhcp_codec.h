#ifndef MIDWIFE_BOOTSERVER_DHCP_DHCP_CODEC_H_
#define MIDWIFE_BOOTSERVER_DHCP_DHCP_CODEC_H_

// DHCPv4 / BOOTP messages: the one DHCP codec of the project. Pure functions,
// no I/O, thread-safe. Parse never trusts its input: a malformed message is
// INVALID_ARGUMENT naming the field or option, its offset and why.
//
// Wire format (RFC 2131 §2, figure 1; integers big-endian):
//   offset size field
//        0    1 op      1 BOOTREQUEST, 2 BOOTREPLY
//        1    1 htype   ARP hardware type, 1 = Ethernet
//        2    1 hlen    hardware address length, <= 16
//        3    1 hops
//        4    4 xid
//        8    2 secs
//       10    2 flags   bit 15: BROADCAST (RFC 2131 §2, figure 2)
//       12    4 ciaddr / 16 yiaddr / 20 siaddr / 24 giaddr
//       28   16 chaddr
//       44   64 sname   NUL-terminated string
//      108  128 file    NUL-terminated string
//      236    4 magic cookie 99.130.83.99 (RFC 2131 §3, RFC 2132 §2)
//      240    - options: code, length, data (RFC 2132 §2); code 0 (pad) and
//               255 (end) are one byte.
//
// Parse:
// - Refuses a message shorter than 240 bytes or longer than
//   kMaxDhcpPacketBytes, a wrong magic cookie, hlen > 16, an option whose
//   length runs past its area, a bad option 52.
// - Option overload (52, RFC 2132 §9.3): the file and/or sname fields hold
//   options. They are read after the options field, file before sname
//   (RFC 2131 §4.1), the field's string is then left empty, and option 52
//   itself is not kept in `options`.
// - An option that appears more than once is one option whose data is the
//   concatenation, in the order above (RFC 3396 §7); it keeps its first
//   position in `options`.
// - Bytes after the end option are padding and ignored; a missing end option
//   is tolerated when the last option ends exactly at the end of the area.
// Serialize:
// - Writes options in `options` order into the options field only (never
//   overloads), splits an option longer than 255 bytes into several
//   (RFC 3396 §5), ends with 255 and pads to kMinBootpBytes: BOOTP relays
//   and some PXE ROMs drop shorter messages (RFC 1542 §2.1).
// - Refuses hlen > 16, sname > 63 or file > 127 bytes (a NUL must fit),
//   option codes 0, 52 and 255, a message over kMaxDhcpPacketBytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace midwife::bootserver::dhcp {

inline constexpr size_t kFixedHeaderBytes = 236;
inline constexpr size_t kMinDhcpPacketBytes = kFixedHeaderBytes + 4;  // + magic cookie
inline constexpr size_t kMinBootpBytes = 300;                         // RFC 1542 §2.1
// Real requests are 300-600 bytes; an Ethernet frame carries at most 1472
// UDP bytes. Anything above this is not a DHCP message we want.
inline constexpr size_t kMaxDhcpPacketBytes = 4096;
inline constexpr size_t kSnameBytes = 64;
inline constexpr size_t kFileBytes = 128;
inline constexpr size_t kChaddrBytes = 16;
inline constexpr std::array<uint8_t, 4> kMagicCookie = {99, 130, 83, 99};
inline constexpr uint16_t kBroadcastFlag = 0x8000;

inline constexpr uint8_t kBootRequest = 1;
inline constexpr uint8_t kBootReply = 2;
inline constexpr uint8_t kHtypeEthernet = 1;

using Ipv4Address = std::array<uint8_t, 4>;  // network order, as asio's address_v4::bytes_type

// "192.0.2.7".
std::string Ipv4ToString(const Ipv4Address& address);
bool IsZero(const Ipv4Address& address);

struct DhcpOption {
  uint8_t code = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const DhcpOption&, const DhcpOption&) = default;
};

struct DhcpPacket {
  uint8_t op = kBootRequest;
  uint8_t htype = kHtypeEthernet;
  uint8_t hlen = 6;
  uint8_t hops = 0;
  uint32_t xid = 0;
  uint16_t secs = 0;
  uint16_t flags = 0;
  Ipv4Address ciaddr{};
  Ipv4Address yiaddr{};
  Ipv4Address siaddr{};
  Ipv4Address giaddr{};
  std::array<uint8_t, kChaddrBytes> chaddr{};
  std::string sname;                // up to its first NUL
  std::string file;                 // up to its first NUL
  std::vector<DhcpOption> options;  // wire order, one entry per code

  // nullptr when absent. The pointer is valid until `options` changes.
  const DhcpOption* FindOption(uint8_t code) const;
  // The option's data as text ("" when absent).
  std::string OptionText(uint8_t code) const;
  // Replaces the option's data, or appends it.
  void SetOption(uint8_t code, std::vector<uint8_t> data);
  void SetOption(uint8_t code, std::string_view text);
  // Option 53, when present and one byte long.
  std::optional<uint8_t> message_type() const;
  bool broadcast() const { return (flags & kBroadcastFlag) != 0; }

  friend bool operator==(const DhcpPacket&, const DhcpPacket&) = default;
};

absl::StatusOr<DhcpPacket> Parse(std::span<const uint8_t> bytes);
absl::StatusOr<std::vector<uint8_t>> Serialize(const DhcpPacket& packet);

}  // namespace midwife::bootserver::dhcp

#endif  // MIDWIFE_BOOTSERVER_DHCP_DHCP_CODEC_H_
