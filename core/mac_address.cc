#include "core/mac_address.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace midwife {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads exactly 12 hex digits, allowing `separator` only at the offsets in
// `separator_after` (counted in digits). Returns false on any other shape.
bool ReadDigits(std::string_view text, char separator, std::initializer_list<int> separator_after,
                MacAddress::Bytes& out) {
  int digits = 0;
  size_t i = 0;
  auto next_separator = separator_after.begin();
  while (digits < 12) {
    if (next_separator != separator_after.end() && digits == *next_separator) {
      if (i >= text.size() || text[i] != separator) return false;
      ++i;
      ++next_separator;
    }
    if (i >= text.size()) return false;
    int v = HexValue(text[i++]);
    if (v < 0) return false;
    uint8_t& byte = out[digits / 2];
    byte = static_cast<uint8_t>(digits % 2 == 0 ? v << 4 : byte | v);
    ++digits;
  }
  return i == text.size();
}

absl::Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("MAC address \"", std::string(text), "\": ", std::string(why)));
}

}  // namespace

absl::StatusOr<MacAddress> MacAddress::Parse(std::string_view text) {
  Bytes bytes{};
  bool parsed = false;
  switch (text.size()) {
    case 12:
      parsed = ReadDigits(text, 0, {}, bytes);
      break;
    case 14:
      parsed = ReadDigits(text, '.', {4, 8}, bytes);
      break;
    case 17:
      parsed = ReadDigits(text, ':', {2, 4, 6, 8, 10}, bytes) ||
               ReadDigits(text, '-', {2, 4, 6, 8, 10}, bytes);
      break;
    case 20:
      // BOOTIF: "01-" (hardware type 1, Ethernet) then the dashed address.
      parsed = text.substr(0, 3) == "01-" &&
               ReadDigits(text.substr(3), '-', {2, 4, 6, 8, 10}, bytes);
      break;
    default:
      break;
  }
  if (!parsed) {
    return Invalid(text,
                   "expected aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff, aabbccddeeff "
                   "or 01-aa-bb-cc-dd-ee-ff");
  }
  auto mac = FromBytes(bytes);
  if (!mac.ok()) return Invalid(text, std::string(mac.status().message()));
  return mac;
}

absl::StatusOr<MacAddress> MacAddress::FromBytes(const Bytes& bytes) {
  if (bytes[0] & 0x01) {
    bool broadcast = true;
    for (uint8_t b : bytes) broadcast = broadcast && b == 0xff;
    return absl::InvalidArgumentError(
        broadcast ? "the broadcast address names no host" : "a multicast address names no host");
  }
  bool zero = true;
  for (uint8_t b : bytes) zero = zero && b == 0;
  if (zero) return absl::InvalidArgumentError("the all-zero address names no host");
  return MacAddress(bytes);
}

namespace {
// By hand, not snprintf: every boot.cfg and iPXE script a host is served
// spells its MAC, and the format parser showed up in the render's profile.
std::string Format(const MacAddress::Bytes& b, char sep) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(17, sep);
  for (size_t i = 0; i < b.size(); ++i) {
    out[3 * i] = kHex[b[i] >> 4];
    out[3 * i + 1] = kHex[b[i] & 0xf];
  }
  return out;
}
}  // namespace

std::string MacAddress::ToString() const { return Format(bytes_, ':'); }
std::string MacAddress::ToDashed() const { return Format(bytes_, '-'); }
std::string MacAddress::ToBootif() const { return "01-" + Format(bytes_, '-'); }

}  // namespace midwife
