#ifndef MIDWIFE_BOOTSERVER_TFTP_TFTP_OPTIONS_H_
#define MIDWIFE_BOOTSERVER_TFTP_TFTP_OPTIONS_H_

// TFTP option negotiation for a read request (the server sends the file).
// Pure, no I/O, thread-safe.
//
// RFC 2347 §2: the server acknowledges, in an OACK, the options it accepts
// and silently omits the others; the transfer then uses the acknowledged
// values. Omission is how this server "refuses": a bad value never fails the
// request, so a quirky ROM still boots at the RFC 1350 defaults.
//   blksize    RFC 2348: 8..65464. Larger requests are lowered to the server
//              maximum (a server may answer with a smaller value); smaller
//              than 8 or not a number: omitted.
//   timeout    RFC 2349 §2: 1..255 seconds, echoed exactly (the RFC does not
//              let the server change it); otherwise omitted.
//   tsize      RFC 2349 §3: the client sends 0 in an RRQ, the server answers
//              with the file size in bytes. Not a number: omitted.
//   windowsize RFC 7440 §3: 1..65535, lowered to the server maximum;
//              0 or not a number: omitted.
// Unknown options are omitted (RFC 2347 §2). Numbers are plain decimal
// digits; a value with a sign, spaces or more than 10 digits is not a number.

#include <cstdint>
#include <optional>
#include <vector>

#include "bootserver/tftp/tftp_codec.h"

namespace midwife::bootserver::tftp {

inline constexpr uint16_t kMaxWindowSize = 65535;  // RFC 7440 §3
inline constexpr int kMinTimeoutSeconds = 1;       // RFC 2349 §2
inline constexpr int kMaxTimeoutSeconds = 255;

struct NegotiationLimits {
  // 1468 = 1500-byte Ethernet MTU - 20 (IPv4) - 8 (UDP) - 4 (TFTP header): the
  // largest block that never fragments on a plain LAN. REQUIRES: 8..65464.
  uint16_t max_block_size = 1468;
  // More blocks in flight than this gains little on a LAN and floods a slow
  // ROM's receive ring. REQUIRES: >= 1.
  uint16_t max_window_size = 64;
};

struct NegotiatedOptions {
  uint16_t block_size = kDefaultBlockSize;
  uint16_t window_size = 1;
  std::optional<int> timeout_seconds;  // set when the client's timeout was accepted
  // What goes in the OACK, in request order. Empty: send no OACK, start with DATA 1.
  std::vector<Option> acknowledged;
};

// REQUIRES: `requested` comes from Parse (names lower-case, no duplicates).
NegotiatedOptions NegotiateReadOptions(const std::vector<Option>& requested, uint64_t file_size,
                                       const NegotiationLimits& limits);

}  // namespace midwife::bootserver::tftp

#endif  // MIDWIFE_BOOTSERVER_TFTP_TFTP_OPTIONS_H_
