#ifndef MIDWIFE_BOOTSERVER_TFTP_TFTP_TRANSFER_H_
#define MIDWIFE_BOOTSERVER_TFTP_TFTP_TRANSFER_H_

// The state machine of one TFTP read (the server sends a file), with time
// passed in: no sockets, no clock, no file bytes. It deals in block offsets
// only; the shell reads the bytes (pread, sendfile) and moves packets.
//
// Protocol (RFC 1350 §2, RFC 2347 §2, RFC 7440 §4):
// - If options were negotiated, the OACK goes first and counts as block 0:
//   the client's ACK 0 starts the data.
// - DATA blocks are numbered from 1 and sent `window_size` at a time. Every
//   block is block_size bytes except the last, which is shorter; when the
//   file size is a multiple of block_size the last block is empty. A file of
//   S bytes has S / block_size + 1 blocks.
// - An ACK of a block inside the outstanding window acknowledges everything
//   up to it and the next window starts right after it (RFC 7440 §4: a
//   receiver that saw a gap acks the last block it got in order, and the
//   sender resumes from there).
// - An ACK of an older block, a repeated ACK or an ACK beyond what was sent
//   changes nothing and sends nothing: answering duplicate ACKs is the
//   Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1). Only a timeout retransmits.
// - Block numbers on the wire are 16 bits and roll over from 65535 to 0, as
//   tftp-hpa, iPXE and EDK2 expect; the machine counts blocks in 64 bits, so
//   files of any size (beyond 32 MiB at blksize 512) transfer.
// - On timeout the whole unacknowledged window (or the OACK) is sent again and
//   the timeout doubles, up to max_timeout. After max_retransmissions
//   timeouts in a row without progress the transfer fails with
//   DEADLINE_EXCEEDED; with the defaults a dead client is given up after
//   1+2+4+8+8+8 = 31 s.
// - The transfer is done when the last block is acknowledged.
//
// What the shell does (one ReadTransfer per transfer socket, i.e. per TID):
//   action = transfer.Start(now)
//   loop:
//     kSend:   send the OACK if send_oack, then each block's DATA (DataHeader
//              + file bytes [offset, offset+length)); arm the timer at deadline.
//     kWait:   keep (or re-arm) the timer at deadline; send nothing.
//     kDone:   close the socket. kFailed: log action.status, close.
//     on datagram from the client's address and port:
//       tftp::Parse; a parse error is logged and ignored.
//       Ack  -> action = transfer.OnAck(ack.block, now)
//       Error -> action = transfer.OnClientError(error); send nothing back.
//       anything else -> send ERROR 4 (illegal operation), close.
//     on datagram from any other address or port: it is not this transfer's
//       TID; answer it ERROR 5 (unknown transfer ID) and carry on
//       (RFC 1350 §4); never feed it to this machine.
//     on timer: action = transfer.OnTimeout(now)
// Not thread-safe: drive it from one strand.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "bootserver/tftp/tftp_codec.h"
#include "bootserver/tftp/tftp_options.h"

namespace midwife::bootserver::tftp {

struct TransferConfig {
  uint16_t block_size = kDefaultBlockSize;  // 8..65464; clamped into that range
  uint16_t window_size = 1;                 // >= 1; 0 reads as 1
  bool send_oack = false;                   // options were acknowledged
  // First retransmission timeout; doubles on every timeout without progress.
  std::chrono::milliseconds timeout = std::chrono::seconds(1);
  std::chrono::milliseconds max_timeout = std::chrono::seconds(8);
  int max_retransmissions = 5;
};

// The transfer's config from the negotiation: a timeout the client asked for
// (RFC 2349) replaces `base.timeout`; limits and retries come from `base`.
TransferConfig MakeTransferConfig(const NegotiatedOptions& negotiated, const TransferConfig& base);

struct BlockToSend {
  uint64_t index = 0;       // 1-based position in the file, never wraps
  uint16_t wire_block = 0;  // index mod 65536: the DATA block number
  uint64_t offset = 0;      // first file byte
  size_t length = 0;        // bytes from offset; 0 for an empty last block
  friend bool operator==(const BlockToSend&, const BlockToSend&) = default;
};

struct TftpAction {
  enum class Kind { kSend, kWait, kDone, kFailed };
  using TimePoint = std::chrono::steady_clock::time_point;

  Kind kind = Kind::kWait;
  bool send_oack = false;           // kSend: the OACK first
  std::vector<BlockToSend> blocks;  // kSend: then these DATA blocks, in order
  bool retransmission = false;      // kSend: caused by a timeout
  TimePoint deadline;               // kSend/kWait: call OnTimeout then
  absl::Status status;              // kFailed: why (OK otherwise)
};

class ReadTransfer {
 public:
  using TimePoint = TftpAction::TimePoint;

  ReadTransfer(uint64_t file_size, const TransferConfig& config);

  // The first packets: the OACK, or the first window of DATA. Call once.
  TftpAction Start(TimePoint now);
  // An ACK from the client's TID.
  TftpAction OnAck(uint16_t wire_block, TimePoint now);
  // An ERROR from the client's TID: the client aborts; returns kFailed
  // (ABORTED, naming the code and message).
  TftpAction OnClientError(const Error& error);
  // The timer armed at the last action's deadline fired. Early calls (a
  // timer not cancelled in time) return kWait with the current deadline.
  TftpAction OnTimeout(TimePoint now);

  uint64_t block_count() const { return block_count_; }
  uint64_t acked_blocks() const { return next_unacked_ == 0 ? 0 : next_unacked_ - 1; }
  uint64_t retransmissions() const { return retransmissions_; }
  bool finished() const { return state_ == State::kDone || state_ == State::kFailed; }

 private:
  enum class State { kNotStarted, kRunning, kDone, kFailed };

  BlockToSend Block(uint64_t index) const;
  // Sends [next_unacked_, window end]; the OACK when next_unacked_ is 0.
  TftpAction SendWindow(TimePoint now, bool retransmission);
  TftpAction Terminal() const;
  TftpAction Wait() const;

  const uint64_t file_size_;
  const TransferConfig config_;
  const uint64_t block_count_;
  State state_ = State::kNotStarted;
  uint64_t next_unacked_ = 0;  // 0 is the OACK
  uint64_t window_end_ = 0;    // last index sent in the current window
  int timeouts_in_a_row_ = 0;
  std::chrono::milliseconds current_timeout_;
  TimePoint deadline_{};
  uint64_t retransmissions_ = 0;
  absl::Status failure_;
};

}  // namespace midwife::bootserver::tftp

#endif  // MIDWIFE_BOOTSERVER_TFTP_TFTP_TRANSFER_H_
