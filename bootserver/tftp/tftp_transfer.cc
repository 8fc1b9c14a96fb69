#include "bootserver/tftp/tftp_transfer.h"

#include <algorithm>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace midwife::bootserver::tftp {
namespace {

constexpr uint64_t kWireBlocks = 65536;

// Out-of-range sizes can only come from a caller's bug; clamping them keeps a
// zero block size from dividing by zero and a zero window from stalling.
TransferConfig Clamped(TransferConfig config) {
  config.block_size = std::clamp<uint16_t>(config.block_size, kMinBlockSize, kMaxBlockSize);
  config.window_size = std::max<uint16_t>(config.window_size, 1);
  return config;
}

}  // namespace

TransferConfig MakeTransferConfig(const NegotiatedOptions& negotiated, const TransferConfig& base) {
  TransferConfig config = base;
  config.block_size = negotiated.block_size;
  config.window_size = negotiated.window_size;
  config.send_oack = !negotiated.acknowledged.empty();
  if (negotiated.timeout_seconds) {
    config.timeout = std::chrono::seconds(*negotiated.timeout_seconds);
    config.max_timeout = std::max(config.max_timeout, config.timeout);
  }
  return config;
}

ReadTransfer::ReadTransfer(uint64_t file_size, const TransferConfig& config)
    : file_size_(file_size),
      config_(Clamped(config)),
      block_count_(file_size / config_.block_size + 1),
      next_unacked_(config.send_oack ? 0 : 1),
      current_timeout_(config.timeout) {}

BlockToSend ReadTransfer::Block(uint64_t index) const {
  const uint64_t offset = (index - 1) * config_.block_size;
  return BlockToSend{
      .index = index,
      .wire_block = static_cast<uint16_t>(index % kWireBlocks),
      .offset = offset,
      .length = static_cast<size_t>(std::min<uint64_t>(config_.block_size, file_size_ - offset)),
  };
}

TftpAction ReadTransfer::SendWindow(TimePoint now, bool retransmission) {
  TftpAction action;
  action.kind = TftpAction::Kind::kSend;
  action.retransmission = retransmission;
  if (next_unacked_ == 0) {
    action.send_oack = true;
    window_end_ = 0;
  } else {
    window_end_ = std::min(block_count_, next_unacked_ + config_.window_size - 1);
    action.blocks.reserve(window_end_ - next_unacked_ + 1);
    for (uint64_t i = next_unacked_; i <= window_end_; ++i) action.blocks.push_back(Block(i));
  }
  deadline_ = now + current_timeout_;
  action.deadline = deadline_;
  return action;
}

TftpAction ReadTransfer::Terminal() const {
  TftpAction action;
  action.kind = state_ == State::kDone ? TftpAction::Kind::kDone : TftpAction::Kind::kFailed;
  action.status = failure_;
  return action;
}

TftpAction ReadTransfer::Wait() const {
  TftpAction action;
  action.kind = TftpAction::Kind::kWait;
  action.deadline = deadline_;
  return action;
}

TftpAction ReadTransfer::Start(TimePoint now) {
  if (state_ != State::kNotStarted) return finished() ? Terminal() : Wait();
  state_ = State::kRunning;
  return SendWindow(now, /*retransmission=*/false);
}

TftpAction ReadTransfer::OnAck(uint16_t wire_block, TimePoint now) {
  if (state_ == State::kNotStarted) return Wait();
  if (finished()) return Terminal();
  // The one index in [next_unacked_, next_unacked_ + 65535] with this wire
  // number. The window is at most 65535 blocks, so at most one block that is
  // in flight can carry it.
  const uint64_t distance = (wire_block + kWireBlocks - next_unacked_ % kWireBlocks) % kWireBlocks;
  const uint64_t index = next_unacked_ + distance;
  if (index > window_end_) return Wait();  // old, duplicate or never sent
  next_unacked_ = index + 1;
  timeouts_in_a_row_ = 0;
  current_timeout_ = config_.timeout;
  if (index == block_count_) {
    state_ = State::kDone;
    return Terminal();
  }
  return SendWindow(now, /*retransmission=*/false);
}

TftpAction ReadTransfer::OnClientError(const Error& error) {
  if (finished()) return Terminal();
  state_ = State::kFailed;
  failure_ = absl::AbortedError(absl::StrCat("client aborted the transfer with TFTP error ",
                                             static_cast<int>(error.code), ": \"",
                                             absl::CEscape(error.message), "\""));
  return Terminal();
}

TftpAction ReadTransfer::OnTimeout(TimePoint now) {
  if (state_ == State::kNotStarted) return Wait();
  if (finished()) return Terminal();
  if (now < deadline_) return Wait();
  if (timeouts_in_a_row_ >= config_.max_retransmissions) {
    state_ = State::kFailed;
    failure_ = absl::DeadlineExceededError(absl::StrCat(
        "no ACK for ",
        next_unacked_ == 0 ? std::string("the OACK")
                           : absl::StrCat("block ", next_unacked_, " of ", block_count_),
        " after ", timeouts_in_a_row_, " retransmissions"));
    return Terminal();
  }
  ++timeouts_in_a_row_;
  ++retransmissions_;
  current_timeout_ = std::min(current_timeout_ * 2, std::max(config_.max_timeout, config_.timeout));
  return SendWindow(now, /*retransmission=*/true);
}

}  // namespace midwife::bootserver::tftp
