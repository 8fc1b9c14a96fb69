#ifndef MIDWIFE_BOOTSERVER_TFTP_TFTP_CODEC_H_
#define MIDWIFE_BOOTSERVER_TFTP_TFTP_CODEC_H_

// TFTP packets: the one TFTP codec of the project. Pure functions, no I/O,
// safe to call from any thread. Parse never trusts its input: every malformed
// packet is an INVALID_ARGUMENT naming the packet kind, the field and why.
//
// Wire format (all integers big-endian, strings are NetASCII ending in NUL):
//   RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
//            RFC 1350 §5; options RFC 2347 §2 appended as name/value pairs.
//   DATA     | 03 | block# (2) | 0..blksize bytes        RFC 1350 §5, RFC 2348
//   ACK      | 04 | block# (2)                           RFC 1350 §5
//   ERROR    | 05 | error code (2) | message | 0         RFC 1350 §5, codes §Appendix
//   OACK     | 06 | opt1 | 0 | value1 | 0 | ...          RFC 2347 §2
//
// What Parse accepts and refuses:
// - Option names are case-insensitive (RFC 2347 §2): they are lower-cased.
//   Values are kept as written. A repeated option (in any case) is refused:
//   which one would count is not defined.
// - Mode is case-insensitive (RFC 1350 §5): netascii, octet or mail. The
//   server serves netascii as octet: every file it serves is a binary boot
//   image, and the clients that matter (PXE ROMs, iPXE) ask for octet.
// - Extra NULs after the last field are padding and ignored (a few ROMs pad),
//   except the one NUL an empty last value needs ("x\0\0" is x = "").
//   A packet not ending in NUL, an empty filename, an empty option name or an
//   option without a value is refused.
// - RFC 2347 §2 bounds a request at 512 octets; requests up to
//   kMaxRequestBytes are accepted so long file names still boot, anything
//   longer is refused, as are more than kMaxOptions options.
// - DATA carries at most kMaxBlockSize bytes (RFC 2348 §1); ACK is exactly 4
//   bytes; ERROR's message is read up to its NUL (bytes after it are ignored).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife::bootserver::tftp {

inline constexpr size_t kDefaultBlockSize = 512;  // RFC 1350 §2
inline constexpr size_t kMinBlockSize = 8;        // RFC 2348 §1
inline constexpr size_t kMaxBlockSize = 65464;    // RFC 2348 §1
inline constexpr size_t kHeaderBytes = 4;         // opcode + block#/error code
inline constexpr size_t kMaxPacketBytes = kHeaderBytes + kMaxBlockSize;
// See the header comment: RFC 2347 says 512, real names can be longer.
inline constexpr size_t kMaxRequestBytes = 2048;
// Real clients send at most five (blksize, tsize, timeout, windowsize, and a
// vendor one); 32 leaves room without letting a request be a list of junk.
inline constexpr size_t kMaxOptions = 32;
// The longest ERROR message Serialize writes; longer ones are cut.
inline constexpr size_t kMaxErrorMessageBytes = 512;

enum class Opcode : uint16_t { kRrq = 1, kWrq = 2, kData = 3, kAck = 4, kError = 5, kOack = 6 };

// RFC 1350 Appendix, RFC 2347 §2 (8). Other values may arrive from the wire
// and are kept as they are.
enum class ErrorCode : uint16_t {
  kNotDefined = 0,
  kFileNotFound = 1,
  kAccessViolation = 2,
  kDiskFull = 3,
  kIllegalOperation = 4,
  kUnknownTransferId = 5,
  kFileExists = 6,
  kNoSuchUser = 7,
  kOptionRefused = 8,
};

enum class Mode { kNetascii, kOctet, kMail };

struct Option {
  std::string name;  // lower-case after Parse
  std::string value;
  friend bool operator==(const Option&, const Option&) = default;
};

struct Request {  // RRQ or WRQ
  Opcode opcode = Opcode::kRrq;
  std::string filename;  // as sent: see tftp_path.h before using it
  Mode mode = Mode::kOctet;
  std::vector<Option> options;  // in wire order
  friend bool operator==(const Request&, const Request&) = default;
};

struct Data {
  uint16_t block = 0;
  std::vector<uint8_t> payload;
  friend bool operator==(const Data&, const Data&) = default;
};

struct Ack {
  uint16_t block = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

struct Error {
  ErrorCode code = ErrorCode::kNotDefined;
  std::string message;
  friend bool operator==(const Error&, const Error&) = default;
};

struct OptionAck {
  std::vector<Option> options;  // in wire order
  friend bool operator==(const OptionAck&, const OptionAck&) = default;
};

using Packet = std::variant<Request, Data, Ack, Error, OptionAck>;

absl::StatusOr<Packet> Parse(std::span<const uint8_t> bytes);

// Refuses (INVALID_ARGUMENT) what Parse would refuse: NULs inside strings, an
// empty filename or option name, an oversized DATA payload or request, an
// empty OACK. An ERROR message is cut at kMaxErrorMessageBytes and at any NUL.
absl::StatusOr<std::vector<uint8_t>> Serialize(const Packet& packet);

// The 4 bytes in front of a DATA payload, for a shell that sends header and
// file bytes as two buffers (scatter/gather) without copying the payload.
std::array<uint8_t, kHeaderBytes> DataHeader(uint16_t block);

// An ERROR packet; cannot fail (the message is cut as Serialize does).
std::vector<uint8_t> SerializeError(ErrorCode code, std::string_view message);

// The TFTP error code to send for a failed status, the one mapping of the
// bootserver: NOT_FOUND -> 1, PERMISSION_DENIED -> 2, RESOURCE_EXHAUSTED -> 3,
// INVALID_ARGUMENT/UNIMPLEMENTED -> 4, ALREADY_EXISTS -> 6, anything else -> 0.
ErrorCode ErrorCodeFor(const absl::Status& status);

std::string_view ModeName(Mode mode);
std::string_view OpcodeName(Opcode opcode);

}  // namespace midwife::bootserver::tftp

#endif  // MIDWIFE_BOOTSERVER_TFTP_TFTP_CODEC_H_
