#ifndef MIDWIFE_CORE_MAC_ADDRESS_H_
#define MIDWIFE_CORE_MAC_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife {

// A unicast Ethernet address that can name a host. The one MAC parser of the
// project: every part (gRPC, HTTP paths, TFTP names, CLIs) goes through
// MacAddress::Parse so that a host has exactly one key everywhere.
class MacAddress {
 public:
  using Bytes = std::array<uint8_t, 6>;

  // Accepts, case-insensitively:
  //   aa:bb:cc:dd:ee:ff   aa-bb-cc-dd-ee-ff   aabb.ccdd.eeff   aabbccddeeff
  //   01-aa-bb-cc-dd-ee-ff  (PXELINUX/mboot BOOTIF form: ARP hardware type 1)
  // Refuses anything else, and multicast (which includes broadcast) and
  // all-zero addresses, with INVALID_ARGUMENT naming the value.
  static absl::StatusOr<MacAddress> Parse(std::string_view text);

  // Wraps raw bytes (e.g. a DHCP chaddr) with the same unicast checks.
  static absl::StatusOr<MacAddress> FromBytes(const Bytes& bytes);

  const Bytes& bytes() const { return bytes_; }

  // Canonical form, used as the storage key: "aa:bb:cc:dd:ee:ff".
  std::string ToString() const;
  // "aa-bb-cc-dd-ee-ff", the separator form used in URLs and file names.
  std::string ToDashed() const;
  // "01-aa-bb-cc-dd-ee-ff", the path mboot and pxelinux look up over TFTP.
  std::string ToBootif() const;

  friend bool operator==(const MacAddress&, const MacAddress&) = default;
  friend auto operator<=>(const MacAddress&, const MacAddress&) = default;

 private:
  explicit MacAddress(const Bytes& bytes) : bytes_(bytes) {}
  Bytes bytes_;
};

}  // namespace midwife

#endif  // MIDWIFE_CORE_MAC_ADDRESS_H_
