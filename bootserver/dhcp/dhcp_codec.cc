#include "bootserver/dhcp/dhcp_codec.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bootserver/dhcp/dhcp_options.h"
#include "core/status_macros.h"

namespace midwife::bootserver::dhcp {
namespace {

constexpr size_t kSnameOffset = 44;
constexpr size_t kFileOffset = kSnameOffset + kSnameBytes;
constexpr size_t kMaxOptionData = 255;

absl::Status Malformed(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("DHCP message: ", std::string(why)));
}

uint32_t ReadU32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

Ipv4Address ReadIpv4(std::span<const uint8_t> b, size_t at) {
  return {b[at], b[at + 1], b[at + 2], b[at + 3]};
}

std::string ReadCString(std::span<const uint8_t> field) {
  const auto nul = std::find(field.begin(), field.end(), uint8_t{0});
  return std::string(field.begin(), nul);
}

void WriteU32(std::vector<uint8_t>& out, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}

// Appends the options of one area (options field, file or sname) to
// `options`, concatenating repeated codes (RFC 3396). `base` is the area's
// offset in the message, for error messages. Returns the overload value when
// the area holds option 52 and `allow_overload`.
absl::StatusOr<uint8_t> ReadOptionArea(std::span<const uint8_t> area, size_t base,
                                       std::string_view area_name, bool allow_overload,
                                       std::vector<DhcpOption>& options) {
  uint8_t overload = 0;
  size_t at = 0;
  while (at < area.size()) {
    const uint8_t code = area[at];
    if (code == option::kPad) {
      ++at;
      continue;
    }
    if (code == option::kEnd) break;
    if (at + 1 >= area.size()) {
      return Malformed(absl::StrCat("option ", code, " at offset ", base + at, " in ",
                                    std::string(area_name), " has no length byte"));
    }
    const size_t length = area[at + 1];
    if (at + 2 + length > area.size()) {
      return Malformed(absl::StrCat("option ", code, " at offset ", base + at, " in ",
                                    std::string(area_name), " claims ", length, " bytes but only ",
                                    area.size() - at - 2, " remain"));
    }
    const std::span<const uint8_t> data = area.subspan(at + 2, length);
    at += 2 + length;
    if (code == option::kOverload) {
      if (!allow_overload) {
        return Malformed(absl::StrCat("option 52 (overload) inside ", std::string(area_name)));
      }
      if (length != 1 || data[0] < 1 || data[0] > 3) {
        return Malformed("option 52 (overload) must be one byte 1, 2 or 3");
      }
      overload = data[0];
      continue;
    }
    auto it = std::find_if(options.begin(), options.end(),
                           [code](const DhcpOption& o) { return o.code == code; });
    if (it == options.end()) {
      options.push_back({code, std::vector<uint8_t>(data.begin(), data.end())});
    } else {
      it->data.insert(it->data.end(), data.begin(), data.end());
    }
  }
  return overload;
}

}  // namespace

std::string Ipv4ToString(const Ipv4Address& a) {
  return absl::StrCat(a[0], ".", a[1], ".", a[2], ".", a[3]);
}

bool IsZero(const Ipv4Address& address) { return address == Ipv4Address{}; }

const DhcpOption* DhcpPacket::FindOption(uint8_t code) const {
  for (const DhcpOption& option : options) {
    if (option.code == code) return &option;
  }
  return nullptr;
}

std::string DhcpPacket::OptionText(uint8_t code) const {
  const DhcpOption* option = FindOption(code);
  return option == nullptr ? std::string() : std::string(option->data.begin(), option->data.end());
}

void DhcpPacket::SetOption(uint8_t code, std::vector<uint8_t> data) {
  for (DhcpOption& option : options) {
    if (option.code == code) {
      option.data = std::move(data);
      return;
    }
  }
  options.push_back({code, std::move(data)});
}

void DhcpPacket::SetOption(uint8_t code, std::string_view text) {
  SetOption(code, std::vector<uint8_t>(text.begin(), text.end()));
}

std::optional<uint8_t> DhcpPacket::message_type() const {
  const DhcpOption* option = FindOption(option::kMessageType);
  if (option == nullptr || option->data.size() != 1) return std::nullopt;
  return option->data[0];
}

absl::StatusOr<DhcpPacket> Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinDhcpPacketBytes) {
    return Malformed(
        absl::StrCat("truncated: ", bytes.size(), " bytes, need at least ", kMinDhcpPacketBytes));
  }
  if (bytes.size() > kMaxDhcpPacketBytes) {
    return Malformed(absl::StrCat(bytes.size(), " bytes, at most ", kMaxDhcpPacketBytes));
  }
  if (!std::equal(kMagicCookie.begin(), kMagicCookie.end(), bytes.begin() + kFixedHeaderBytes)) {
    return Malformed("bad magic cookie (not 99.130.83.99)");
  }
  DhcpPacket packet;
  packet.op = bytes[0];
  packet.htype = bytes[1];
  packet.hlen = bytes[2];
  packet.hops = bytes[3];
  if (packet.hlen > kChaddrBytes) {
    return Malformed(absl::StrCat("hlen ", packet.hlen, " exceeds ", kChaddrBytes));
  }
  packet.xid = ReadU32(bytes, 4);
  packet.secs = static_cast<uint16_t>((bytes[8] << 8) | bytes[9]);
  packet.flags = static_cast<uint16_t>((bytes[10] << 8) | bytes[11]);
  packet.ciaddr = ReadIpv4(bytes, 12);
  packet.yiaddr = ReadIpv4(bytes, 16);
  packet.siaddr = ReadIpv4(bytes, 20);
  packet.giaddr = ReadIpv4(bytes, 24);
  std::copy_n(bytes.begin() + 28, kChaddrBytes, packet.chaddr.begin());

  const std::span<const uint8_t> sname = bytes.subspan(kSnameOffset, kSnameBytes);
  const std::span<const uint8_t> file = bytes.subspan(kFileOffset, kFileBytes);
  ASSIGN_OR_RETURN(const uint8_t overload,
                   ReadOptionArea(bytes.subspan(kMinDhcpPacketBytes), kMinDhcpPacketBytes,
                                  "options", /*allow_overload=*/true, packet.options));
  if (overload & 1) {
    RETURN_IF_ERROR(ReadOptionArea(file, kFileOffset, "file", false, packet.options).status());
  } else {
    packet.file = ReadCString(file);
  }
  if (overload & 2) {
    RETURN_IF_ERROR(ReadOptionArea(sname, kSnameOffset, "sname", false, packet.options).status());
  } else {
    packet.sname = ReadCString(sname);
  }
  return packet;
}

absl::StatusOr<std::vector<uint8_t>> Serialize(const DhcpPacket& packet) {
  if (packet.hlen > kChaddrBytes) {
    return Malformed(absl::StrCat("hlen ", packet.hlen, " exceeds ", kChaddrBytes));
  }
  if (packet.sname.size() >= kSnameBytes) {
    return Malformed(
        absl::StrCat("sname is ", packet.sname.size(), " bytes, at most ", kSnameBytes - 1));
  }
  if (packet.file.size() >= kFileBytes) {
    return Malformed(
        absl::StrCat("file is ", packet.file.size(), " bytes, at most ", kFileBytes - 1));
  }
  std::vector<uint8_t> out(kMinDhcpPacketBytes, 0);
  out[0] = packet.op;
  out[1] = packet.htype;
  out[2] = packet.hlen;
  out[3] = packet.hops;
  WriteU32(out, 4, packet.xid);
  out[8] = static_cast<uint8_t>(packet.secs >> 8);
  out[9] = static_cast<uint8_t>(packet.secs & 0xff);
  out[10] = static_cast<uint8_t>(packet.flags >> 8);
  out[11] = static_cast<uint8_t>(packet.flags & 0xff);
  std::copy(packet.ciaddr.begin(), packet.ciaddr.end(), out.begin() + 12);
  std::copy(packet.yiaddr.begin(), packet.yiaddr.end(), out.begin() + 16);
  std::copy(packet.siaddr.begin(), packet.siaddr.end(), out.begin() + 20);
  std::copy(packet.giaddr.begin(), packet.giaddr.end(), out.begin() + 24);
  std::copy(packet.chaddr.begin(), packet.chaddr.end(), out.begin() + 28);
  std::copy(packet.sname.begin(), packet.sname.end(), out.begin() + kSnameOffset);
  std::copy(packet.file.begin(), packet.file.end(), out.begin() + kFileOffset);
  std::copy(kMagicCookie.begin(), kMagicCookie.end(), out.begin() + kFixedHeaderBytes);
  for (const DhcpOption& option : packet.options) {
    if (option.code == option::kPad || option.code == option::kEnd ||
        option.code == option::kOverload) {
      return Malformed(absl::StrCat("option code ", option.code, " cannot be set explicitly"));
    }
    // An empty option is one code and a zero length; longer ones are split.
    size_t done = 0;
    do {
      const size_t chunk = std::min(kMaxOptionData, option.data.size() - done);
      out.push_back(option.code);
      out.push_back(static_cast<uint8_t>(chunk));
      const std::span<const uint8_t> piece = std::span(option.data).subspan(done, chunk);
      out.insert(out.end(), piece.begin(), piece.end());
      done += chunk;
    } while (done < option.data.size());
  }
  out.push_back(option::kEnd);
  if (out.size() < kMinBootpBytes) out.resize(kMinBootpBytes, option::kPad);
  if (out.size() > kMaxDhcpPacketBytes) {
    return Malformed(absl::StrCat(out.size(), " bytes, at most ", kMaxDhcpPacketBytes));
  }
  return out;
}

}  // namespace midwife::bootserver::dhcp
