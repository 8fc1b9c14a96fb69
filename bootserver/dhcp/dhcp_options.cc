#include "bootserver/dhcp/dhcp_options.h"

#include <string>

namespace midwife::bootserver::dhcp {
namespace {

constexpr std::string_view kIpxeUserClass = "iPXE";
constexpr std::string_view kArchField = ":Arch:";
constexpr size_t kArchDigits = 5;

}  // namespace

bool VendorClassStartsWith(const DhcpPacket& packet, std::string_view prefix) {
  return packet.OptionText(option::kVendorClass).starts_with(prefix);
}

std::optional<uint16_t> ClientArchitecture(const DhcpPacket& packet) {
  const DhcpOption* arch = packet.FindOption(option::kClientArch);
  if (arch != nullptr && arch->data.size() >= 2 && arch->data.size() % 2 == 0) {
    return static_cast<uint16_t>((arch->data[0] << 8) | arch->data[1]);
  }
  const std::string vendor = packet.OptionText(option::kVendorClass);
  for (std::string_view prefix : {kPxeClient, kHttpClient}) {
    if (!vendor.starts_with(std::string(prefix) + std::string(kArchField))) continue;
    const std::string_view digits =
        std::string_view(vendor).substr(prefix.size() + kArchField.size(), kArchDigits);
    if (digits.size() != kArchDigits) return std::nullopt;
    uint32_t value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value > 0xffff) return std::nullopt;
    return static_cast<uint16_t>(value);
  }
  return std::nullopt;
}

bool IsIpxeClient(const DhcpPacket& packet) {
  if (packet.FindOption(option::kIpxeEncapsulated) != nullptr) return true;
  const DhcpOption* user_class = packet.FindOption(option::kUserClass);
  if (user_class == nullptr) return false;
  const std::vector<uint8_t>& data = user_class->data;
  if (std::string_view(reinterpret_cast<const char*>(data.data()), data.size()) == kIpxeUserClass) {
    return true;
  }
  // RFC 3004 §2: one or more (length, class) instances.
  size_t at = 0;
  while (at < data.size()) {
    const size_t length = data[at];
    if (length == 0 || at + 1 + length > data.size()) return false;
    if (std::string_view(reinterpret_cast<const char*>(data.data()) + at + 1, length) ==
        kIpxeUserClass) {
      return true;
    }
    at += 1 + length;
  }
  return false;
}

std::vector<uint8_t> PxeBootFileOnlyVendorOptions() {
  return {kPxeDiscoveryControl, 1, kPxeUseBootFile, option::kEnd};
}

}  // namespace midwife::bootserver::dhcp
