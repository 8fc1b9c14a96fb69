#include "bootserver/tftp/tftp_transfer.h"

#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver::tftp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = TftpAction::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

const TftpAction::TimePoint kT0 = TftpAction::TimePoint() + std::chrono::hours(1);

TransferConfig Config(uint16_t block_size, uint16_t window_size, bool oack = false) {
  TransferConfig config;
  config.block_size = block_size;
  config.window_size = window_size;
  config.send_oack = oack;
  return config;
}

// A client that receives everything and acks the last block of every window;
// checks the blocks cover the file in order, each sent once.
struct PerfectClient {
  uint64_t next_offset = 0;
  uint64_t next_index = 1;
  uint64_t sends = 0;
  bool saw_empty_last_block = false;

  Kind Run(ReadTransfer& transfer, uint64_t file_size, uint16_t block_size) {
    TftpAction action = transfer.Start(kT0);
    while (action.kind == Kind::kSend) {
      ++sends;
      if (action.send_oack) {
        action = transfer.OnAck(0, kT0);
        continue;
      }
      for (const BlockToSend& block : action.blocks) {
        EXPECT_EQ(block.index, next_index);
        EXPECT_EQ(block.wire_block, static_cast<uint16_t>(next_index));
        EXPECT_EQ(block.offset, next_offset);
        EXPECT_LE(block.length, block_size);
        if (block.offset + block.length < file_size) {
          EXPECT_EQ(block.length, block_size);
        }
        saw_empty_last_block = block.length == 0;
        next_offset += block.length;
        ++next_index;
      }
      action = transfer.OnAck(action.blocks.back().wire_block, kT0);
    }
    EXPECT_EQ(next_offset, file_size);
    return action.kind;
  }
};

TEST(TftpTransfer, SendsAFileBlockByBlockAtWindowSize1) {
  ReadTransfer transfer(1300, Config(512, 1));
  TftpAction a = transfer.Start(kT0);
  ASSERT_EQ(a.kind, Kind::kSend);
  EXPECT_FALSE(a.send_oack);
  EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{1, 1, 0, 512}));
  EXPECT_EQ(a.deadline, kT0 + seconds(1));
  a = transfer.OnAck(1, kT0 + milliseconds(5));
  EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{2, 2, 512, 512}));
  EXPECT_EQ(a.deadline, kT0 + milliseconds(1005));
  a = transfer.OnAck(2, kT0);
  EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{3, 3, 1024, 276}));
  a = transfer.OnAck(3, kT0);
  EXPECT_EQ(a.kind, Kind::kDone);
  EXPECT_TRUE(a.status.ok());
  EXPECT_TRUE(transfer.finished());
  EXPECT_EQ(transfer.acked_blocks(), 3u);
}

TEST(TftpTransfer, FullTransferAtWindowSize1And16) {
  for (uint16_t window : {1, 16}) {
    SCOPED_TRACE(window);
    const uint64_t size = 100 * 1468 + 77;
    ReadTransfer transfer(size, Config(1468, window, /*oack=*/true));
    PerfectClient client;
    EXPECT_EQ(client.Run(transfer, size, 1468), Kind::kDone);
    EXPECT_EQ(transfer.block_count(), 101u);
    EXPECT_EQ(client.sends,
              static_cast<uint64_t>(1 + (101 + window - 1) / window));  // OACK + windows
    EXPECT_EQ(transfer.retransmissions(), 0u);
  }
}

TEST(TftpTransfer, SendsTheOackFirstAndStartsDataOnAck0) {
  ReadTransfer transfer(10, Config(512, 4, /*oack=*/true));
  TftpAction a = transfer.Start(kT0);
  EXPECT_EQ(a.kind, Kind::kSend);
  EXPECT_TRUE(a.send_oack);
  EXPECT_THAT(a.blocks, IsEmpty());
  EXPECT_EQ(transfer.OnAck(1, kT0).kind, Kind::kWait);  // nothing sent yet
  a = transfer.OnAck(0, kT0);
  EXPECT_FALSE(a.send_oack);
  EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{1, 1, 0, 10}));
}

TEST(TftpTransfer, WindowIsCutAtTheLastBlock) {
  ReadTransfer transfer(512 * 2 + 1, Config(512, 16));
  EXPECT_THAT(transfer.Start(kT0).blocks,
              ElementsAre(BlockToSend{1, 1, 0, 512}, BlockToSend{2, 2, 512, 512},
                          BlockToSend{3, 3, 1024, 1}));
}

TEST(TftpTransfer, AckInsideTheWindowRestartsTheWindowAfterIt) {
  ReadTransfer transfer(512 * 10, Config(512, 4));
  ASSERT_EQ(transfer.Start(kT0).blocks.size(), 4u);  // 1..4
  // The client lost block 3: it acks 2, the window restarts at 3 (RFC 7440).
  TftpAction a = transfer.OnAck(2, kT0);
  ASSERT_EQ(a.kind, Kind::kSend);
  ASSERT_EQ(a.blocks.size(), 4u);
  EXPECT_EQ(a.blocks.front().index, 3u);
  EXPECT_EQ(a.blocks.back().index, 6u);
  EXPECT_FALSE(a.retransmission);
}

TEST(TftpTransfer, DuplicateAndOldAcksSendNothing) {  // no Sorcerer's Apprentice
  ReadTransfer transfer(512 * 10, Config(512, 1));
  transfer.Start(kT0);
  const TftpAction sent = transfer.OnAck(1, kT0 + milliseconds(10));
  ASSERT_THAT(sent.blocks, ElementsAre(BlockToSend{2, 2, 512, 512}));
  for (uint16_t stale : {1, 0, 65535, 500}) {
    SCOPED_TRACE(stale);
    const TftpAction a = transfer.OnAck(stale, kT0 + milliseconds(20));
    EXPECT_EQ(a.kind, Kind::kWait);
    EXPECT_THAT(a.blocks, IsEmpty());
    EXPECT_EQ(a.deadline, sent.deadline);  // the timer is not pushed back either
  }
  EXPECT_EQ(transfer.OnAck(2, kT0).blocks.front().index, 3u);
}

TEST(TftpTransfer, TimeoutRetransmitsTheWindowWithBackoffThenGivesUp) {
  ReadTransfer transfer(512 * 10, Config(512, 3));
  TftpAction a = transfer.Start(kT0);
  std::vector<milliseconds> waits = {std::chrono::duration_cast<milliseconds>(a.deadline - kT0)};
  while (true) {
    const TftpAction::TimePoint now = a.deadline;
    a = transfer.OnTimeout(now);
    if (a.kind != Kind::kSend) break;
    EXPECT_TRUE(a.retransmission);
    EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{1, 1, 0, 512}, BlockToSend{2, 2, 512, 512},
                                      BlockToSend{3, 3, 1024, 512}));
    waits.push_back(std::chrono::duration_cast<milliseconds>(a.deadline - now));
  }
  EXPECT_THAT(waits,
              ElementsAre(seconds(1), seconds(2), seconds(4), seconds(8), seconds(8), seconds(8)));
  EXPECT_EQ(a.kind, Kind::kFailed);
  EXPECT_EQ(a.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(a.status.message(), HasSubstr("no ACK for block 1 of 11 after 5 retransmissions"));
  EXPECT_EQ(transfer.retransmissions(), 5u);
  EXPECT_EQ(transfer.OnAck(3, kT0).kind, Kind::kFailed);  // stays failed
}

TEST(TftpTransfer, OackIsRetransmittedOnTimeout) {
  ReadTransfer transfer(5, Config(512, 1, /*oack=*/true));
  const TftpAction first = transfer.Start(kT0);
  const TftpAction again = transfer.OnTimeout(first.deadline);
  EXPECT_TRUE(again.send_oack);
  EXPECT_TRUE(again.retransmission);
}

TEST(TftpTransfer, EarlyTimerIsIgnored) {
  ReadTransfer transfer(5, Config(512, 1));
  const TftpAction first = transfer.Start(kT0);
  const TftpAction a = transfer.OnTimeout(first.deadline - milliseconds(1));
  EXPECT_EQ(a.kind, Kind::kWait);
  EXPECT_EQ(a.deadline, first.deadline);
  EXPECT_EQ(transfer.retransmissions(), 0u);
}

TEST(TftpTransfer, ProgressResetsTheBackoff) {
  ReadTransfer transfer(512 * 4, Config(512, 1));
  TftpAction a = transfer.Start(kT0);
  a = transfer.OnTimeout(a.deadline);
  a = transfer.OnTimeout(a.deadline);  // now waiting 4 s
  const TftpAction::TimePoint now = a.deadline - milliseconds(100);
  a = transfer.OnAck(1, now);
  EXPECT_EQ(a.deadline, now + seconds(1));
}

TEST(TftpTransfer, NegotiatedTimeoutSetsTheFirstRetransmissionTimeout) {
  NegotiatedOptions negotiated;
  negotiated.block_size = 1024;
  negotiated.window_size = 8;
  negotiated.timeout_seconds = 3;
  negotiated.acknowledged = {{"timeout", "3"}};
  const TransferConfig config = MakeTransferConfig(negotiated, TransferConfig{});
  EXPECT_EQ(config.block_size, 1024);
  EXPECT_EQ(config.window_size, 8);
  EXPECT_TRUE(config.send_oack);
  EXPECT_EQ(config.timeout, seconds(3));
  ReadTransfer transfer(1, config);
  const TftpAction a = transfer.Start(kT0);
  EXPECT_EQ(a.deadline, kT0 + seconds(3));
  EXPECT_EQ(transfer.OnTimeout(a.deadline).deadline, a.deadline + seconds(6));
}

TEST(TftpTransfer, EndsWithAnEmptyBlockWhenSizeIsAMultipleOfBlockSize) {
  for (uint64_t size : {0, 512, 1024, 512 * 300}) {
    SCOPED_TRACE(size);
    ReadTransfer transfer(size, Config(512, 16));
    EXPECT_EQ(transfer.block_count(), size / 512 + 1);
    PerfectClient client;
    EXPECT_EQ(client.Run(transfer, size, 512), Kind::kDone);
    EXPECT_TRUE(client.saw_empty_last_block);
  }
  ReadTransfer transfer(1024, Config(512, 1));
  transfer.Start(kT0);
  transfer.OnAck(1, kT0);
  EXPECT_THAT(transfer.OnAck(2, kT0).blocks, ElementsAre(BlockToSend{3, 3, 1024, 0}));
  EXPECT_EQ(transfer.OnAck(3, kT0).kind, Kind::kDone);
}

TEST(TftpTransfer, BlockNumbersRollOverPast65535WithoutAllocatingTheFile) {
  const uint64_t size = 40ull << 20;  // 40 MiB: 81920 full blocks + an empty one
  for (uint16_t window : {1, 16}) {
    SCOPED_TRACE(window);
    ReadTransfer transfer(size, Config(512, window, /*oack=*/true));
    PerfectClient client;
    EXPECT_EQ(client.Run(transfer, size, 512), Kind::kDone);
    EXPECT_EQ(transfer.block_count(), 81921u);
    EXPECT_EQ(transfer.acked_blocks(), 81921u);
    EXPECT_EQ(client.next_index, 81922u);
  }
}

TEST(TftpTransfer, AcksAroundTheRolloverMapToTheRightBlocks) {
  ReadTransfer transfer(40ull << 20, Config(512, 4));
  TftpAction a = transfer.Start(kT0);
  while (a.blocks.back().index < 65533) a = transfer.OnAck(a.blocks.back().wire_block, kT0);
  ASSERT_EQ(a.blocks.front().index, 65533u);
  EXPECT_THAT(a.blocks, ElementsAre(BlockToSend{65533, 65533, 65532ull * 512, 512},
                                    BlockToSend{65534, 65534, 65533ull * 512, 512},
                                    BlockToSend{65535, 65535, 65534ull * 512, 512},
                                    BlockToSend{65536, 0, 65535ull * 512, 512}));
  a = transfer.OnAck(0, kT0);  // wire 0 is block 65536 now
  EXPECT_THAT(a.blocks.front(), BlockToSend({65537, 1, 65536ull * 512, 512}));
  EXPECT_EQ(transfer.OnAck(65535, kT0).kind, Kind::kWait);  // old, before the rollover
}

TEST(TftpTransfer, AckBeyondWhatWasSentIsIgnored) {
  ReadTransfer transfer(512 * 10, Config(512, 2));
  transfer.Start(kT0);  // blocks 1, 2
  EXPECT_EQ(transfer.OnAck(3, kT0).kind, Kind::kWait);
  EXPECT_EQ(transfer.acked_blocks(), 0u);
}

TEST(TftpTransfer, ClientErrorAbortsTheTransfer) {
  ReadTransfer transfer(512 * 10, Config(512, 2));
  transfer.Start(kT0);
  TftpAction a = transfer.OnClientError(Error{ErrorCode::kNotDefined, "user cancelled"});
  EXPECT_EQ(a.kind, Kind::kFailed);
  EXPECT_EQ(a.status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(a.status.message(), HasSubstr("TFTP error 0: \"user cancelled\""));
  EXPECT_EQ(transfer.OnTimeout(kT0 + seconds(60)).kind, Kind::kFailed);
  EXPECT_EQ(transfer.OnAck(1, kT0).kind, Kind::kFailed);
}

TEST(TftpTransfer, ZeroSizesFromABuggyCallerAreClampedNotFatal) {
  ReadTransfer transfer(100, Config(0, 0));
  EXPECT_EQ(transfer.block_count(), 13u);  // 8-byte blocks
  EXPECT_THAT(transfer.Start(kT0).blocks, ElementsAre(BlockToSend{1, 1, 0, 8}));
}

TEST(TftpTransfer, CallsAfterDoneStayDone) {
  ReadTransfer transfer(3, Config(512, 1));
  transfer.Start(kT0);
  ASSERT_EQ(transfer.OnAck(1, kT0).kind, Kind::kDone);
  EXPECT_EQ(transfer.OnAck(1, kT0).kind, Kind::kDone);  // a repeated final ACK
  EXPECT_EQ(transfer.OnTimeout(kT0 + seconds(10)).kind, Kind::kDone);
  EXPECT_EQ(transfer.OnClientError(Error{}).kind, Kind::kDone);
}

}  // namespace
}  // namespace midwife::bootserver::tftp
