#include "bootserver/tftp/tftp_codec.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::bootserver::tftp {
namespace {

uint16_t ReadU16(std::span<const uint8_t> bytes, size_t at) {
  return static_cast<uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

void AppendU16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value & 0xff));
}

void AppendString(std::vector<uint8_t>& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
  out.push_back(0);
}

std::string Quote(std::string_view text) {
  return absl::StrCat("\"", absl::CEscape(std::string(text)), "\"");
}

absl::Status Malformed(std::string_view what, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("TFTP ", std::string(what), ": ", std::string(why)));
}

// Splits a body of NUL-terminated strings. Trailing empty strings are NUL
// padding, except one that completes a name/value pair (an empty value): the
// strings come in pairs from an even index in both requests and OACKs.
absl::StatusOr<std::vector<std::string>> SplitStrings(std::span<const uint8_t> body,
                                                      std::string_view what) {
  if (body.empty() || body.back() != 0) {
    return Malformed(what, "last field is not terminated by NUL");
  }
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != 0) continue;
    fields.emplace_back(reinterpret_cast<const char*>(body.data()) + start, i - start);
    start = i + 1;
  }
  size_t dropped = 0;
  while (!fields.empty() && fields.back().empty()) {
    fields.pop_back();
    ++dropped;
  }
  if (dropped > 0 && fields.size() % 2 == 1) fields.emplace_back();
  return fields;
}

// Reads name/value pairs; names lower-cased, duplicates and empties refused.
absl::StatusOr<std::vector<Option>> ParseOptionPairs(std::span<const std::string> fields,
                                                     std::string_view what) {
  if (fields.size() % 2 != 0) {
    return Malformed(what, absl::StrCat("option ", Quote(fields.back()), " has no value"));
  }
  if (fields.size() / 2 > kMaxOptions) {
    return Malformed(
        what, absl::StrCat(fields.size() / 2, " options, at most ", kMaxOptions, " are accepted"));
  }
  std::vector<Option> options;
  std::set<std::string> seen;
  for (size_t i = 0; i < fields.size(); i += 2) {
    if (fields[i].empty()) return Malformed(what, "empty option name");
    Option option{absl::AsciiStrToLower(fields[i]), fields[i + 1]};
    if (!seen.insert(option.name).second) {
      return Malformed(what, absl::StrCat("option ", Quote(option.name), " appears twice"));
    }
    options.push_back(std::move(option));
  }
  return options;
}

absl::StatusOr<Packet> ParseRequest(Opcode opcode, std::span<const uint8_t> bytes) {
  const std::string_view what = OpcodeName(opcode);
  if (bytes.size() > kMaxRequestBytes) {
    return Malformed(
        what, absl::StrCat(bytes.size(), " bytes, at most ", kMaxRequestBytes, " are accepted"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> fields, SplitStrings(bytes.subspan(2), what));
  if (fields.empty() || fields[0].empty()) return Malformed(what, "empty filename");
  if (fields.size() < 2) return Malformed(what, "missing transfer mode");
  Request request{opcode, fields[0], Mode::kOctet, {}};
  const std::string mode = absl::AsciiStrToLower(fields[1]);
  if (mode == "octet") {
    request.mode = Mode::kOctet;
  } else if (mode == "netascii") {
    request.mode = Mode::kNetascii;
  } else if (mode == "mail") {
    request.mode = Mode::kMail;
  } else {
    return Malformed(what, absl::StrCat("unknown transfer mode ", Quote(fields[1])));
  }
  ASSIGN_OR_RETURN(request.options,
                   ParseOptionPairs(std::span<const std::string>(fields).subspan(2), what));
  return request;
}

absl::StatusOr<Packet> ParseOptionAck(std::span<const uint8_t> bytes) {
  ASSIGN_OR_RETURN(std::vector<std::string> fields, SplitStrings(bytes.subspan(2), "OACK"));
  if (fields.empty()) return Malformed("OACK", "no options");
  ASSIGN_OR_RETURN(std::vector<Option> options, ParseOptionPairs(fields, "OACK"));
  return OptionAck{std::move(options)};
}

absl::StatusOr<Packet> ParseError(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) {
    return Malformed("ERROR", absl::StrCat("truncated: ", bytes.size(), " bytes, need at least 5"));
  }
  const std::span<const uint8_t> text = bytes.subspan(kHeaderBytes);
  const auto nul = std::find(text.begin(), text.end(), uint8_t{0});
  if (nul == text.end()) return Malformed("ERROR", "message is not terminated by NUL");
  return Error{static_cast<ErrorCode>(ReadU16(bytes, 2)), std::string(text.begin(), nul)};
}

absl::Status CheckString(std::string_view text, std::string_view what, std::string_view field) {
  if (text.find('\0') != std::string_view::npos) {
    return Malformed(what, absl::StrCat(std::string(field), " contains NUL"));
  }
  return absl::OkStatus();
}

absl::Status AppendOptions(std::vector<uint8_t>& out, const std::vector<Option>& options,
                           std::string_view what) {
  if (options.size() > kMaxOptions) {
    return Malformed(what, absl::StrCat(options.size(), " options, at most ", kMaxOptions));
  }
  for (const Option& option : options) {
    if (option.name.empty()) return Malformed(what, "empty option name");
    RETURN_IF_ERROR(CheckString(option.name, what, "option name"));
    RETURN_IF_ERROR(CheckString(option.value, what, "option value"));
    AppendString(out, option.name);
    AppendString(out, option.value);
  }
  return absl::OkStatus();
}

struct Serializer {
  absl::StatusOr<std::vector<uint8_t>> operator()(const Request& request) const {
    const std::string_view what = OpcodeName(request.opcode);
    if (request.opcode != Opcode::kRrq && request.opcode != Opcode::kWrq) {
      return Malformed("request", "opcode must be RRQ or WRQ");
    }
    if (request.filename.empty()) return Malformed(what, "empty filename");
    RETURN_IF_ERROR(CheckString(request.filename, what, "filename"));
    std::vector<uint8_t> out;
    AppendU16(out, static_cast<uint16_t>(request.opcode));
    AppendString(out, request.filename);
    AppendString(out, ModeName(request.mode));
    RETURN_IF_ERROR(AppendOptions(out, request.options, what));
    if (out.size() > kMaxRequestBytes) {
      return Malformed(what, absl::StrCat(out.size(), " bytes, at most ", kMaxRequestBytes));
    }
    return out;
  }
  absl::StatusOr<std::vector<uint8_t>> operator()(const Data& data) const {
    if (data.payload.size() > kMaxBlockSize) {
      return Malformed(
          "DATA", absl::StrCat(data.payload.size(), " payload bytes, at most ", kMaxBlockSize));
    }
    const std::array<uint8_t, kHeaderBytes> header = DataHeader(data.block);
    std::vector<uint8_t> out(header.begin(), header.end());
    out.insert(out.end(), data.payload.begin(), data.payload.end());
    return out;
  }
  absl::StatusOr<std::vector<uint8_t>> operator()(const Ack& ack) const {
    std::vector<uint8_t> out;
    AppendU16(out, static_cast<uint16_t>(Opcode::kAck));
    AppendU16(out, ack.block);
    return out;
  }
  absl::StatusOr<std::vector<uint8_t>> operator()(const Error& error) const {
    return SerializeError(error.code, error.message);
  }
  absl::StatusOr<std::vector<uint8_t>> operator()(const OptionAck& oack) const {
    if (oack.options.empty()) return Malformed("OACK", "no options");
    std::vector<uint8_t> out;
    AppendU16(out, static_cast<uint16_t>(Opcode::kOack));
    RETURN_IF_ERROR(AppendOptions(out, oack.options, "OACK"));
    return out;
  }
};

}  // namespace

absl::StatusOr<Packet> Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) {
    return Malformed("packet", absl::StrCat("truncated: ", bytes.size(), " bytes, no opcode"));
  }
  if (bytes.size() > kMaxPacketBytes) {
    return Malformed("packet", absl::StrCat(bytes.size(), " bytes, at most ", kMaxPacketBytes));
  }
  const uint16_t opcode = ReadU16(bytes, 0);
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kRrq:
    case Opcode::kWrq:
      return ParseRequest(static_cast<Opcode>(opcode), bytes);
    case Opcode::kData:
      if (bytes.size() < kHeaderBytes) {
        return Malformed("DATA", absl::StrCat("truncated: ", bytes.size(), " bytes, need 4"));
      }
      return Data{ReadU16(bytes, 2),
                  std::vector<uint8_t>(bytes.begin() + kHeaderBytes, bytes.end())};
    case Opcode::kAck:
      if (bytes.size() != kHeaderBytes) {
        return Malformed("ACK", absl::StrCat(bytes.size(), " bytes, must be 4"));
      }
      return Ack{ReadU16(bytes, 2)};
    case Opcode::kError:
      return ParseError(bytes);
    case Opcode::kOack:
      return ParseOptionAck(bytes);
  }
  return Malformed("packet", absl::StrCat("unknown opcode ", opcode));
}

absl::StatusOr<std::vector<uint8_t>> Serialize(const Packet& packet) {
  return std::visit(Serializer{}, packet);
}

std::array<uint8_t, kHeaderBytes> DataHeader(uint16_t block) {
  return {0, static_cast<uint8_t>(Opcode::kData), static_cast<uint8_t>(block >> 8),
          static_cast<uint8_t>(block & 0xff)};
}

std::vector<uint8_t> SerializeError(ErrorCode code, std::string_view message) {
  message = message.substr(0, std::min(message.find('\0'), kMaxErrorMessageBytes));
  std::vector<uint8_t> out;
  AppendU16(out, static_cast<uint16_t>(Opcode::kError));
  AppendU16(out, static_cast<uint16_t>(code));
  AppendString(out, message);
  return out;
}

ErrorCode ErrorCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return ErrorCode::kFileNotFound;
    case absl::StatusCode::kPermissionDenied:
      return ErrorCode::kAccessViolation;
    case absl::StatusCode::kResourceExhausted:
      return ErrorCode::kDiskFull;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
      return ErrorCode::kIllegalOperation;
    case absl::StatusCode::kAlreadyExists:
      return ErrorCode::kFileExists;
    default:
      return ErrorCode::kNotDefined;
  }
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNetascii:
      return "netascii";
    case Mode::kOctet:
      return "octet";
    case Mode::kMail:
      return "mail";
  }
  return "octet";
}

std::string_view OpcodeName(Opcode opcode) {
  switch (opcode) {
    case Opcode::kRrq:
      return "RRQ";
    case Opcode::kWrq:
      return "WRQ";
    case Opcode::kData:
      return "DATA";
    case Opcode::kAck:
      return "ACK";
    case Opcode::kError:
      return "ERROR";
    case Opcode::kOack:
      return "OACK";
  }
  return "unknown";
}

}  // namespace midwife::bootserver::tftp
