// TFTP over a bad link: 50 transfers at once through a relay that drops,
// duplicates and reorders 10% of the datagrams each way, with real clients
// (tftp-hpa and atftp), lock-step and with RFC 7440 windows. Every file must
// arrive byte-exact within a bound.
//
// What the clients cannot do on such a link, and the client settings the
// test chose for it (the server runs with the daemon's defaults: 1 s first
// retransmission timeout, doubling to 8 s, 5 retransmissions):
// - atftp (0.8) aborts a transfer when a second OACK arrives ("tftp:
//   unexpected OACK"; its tftp_file.c allows one per transfer outside
//   multicast). A lossy link makes one whenever it duplicates the OACK or
//   loses ACK 0 (the server must then send the OACK again, RFC 2347), so
//   about one windowed transfer in five aborts. The test starts such a
//   client again (up to kAttempts), as a PXE ROM retries a failed load;
//   any other failure is final.
// - atftp "--tftp-timeout 3" (default 5): after a gap it re-ACKs one
//   duplicate DATA only and then waits out its own timeout, so a lost
//   extra ACK costs that long. With 1 s it gives up after about 7 s of
//   silence, sooner than the server's 1+2+4+8 s retransmissions reach it
//   after three losses in a row; 3 s outlasts four.
// - tftp-hpa "rexmt 1" (default 5): a lost RRQ costs 1 s, not 5.
//   "timeout 60" (default 25): its total wait for one packet must outlast
//   the server's whole retransmission schedule (1+2+4+8+8 s).
// - tftp-hpa takes DATA from whichever port sent it: had a duplicated or
//   retransmitted RRQ started a second transfer, it would ACK both in turn.
//   The server starts none for a repeated RRQ (tftp_server.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "tests/bootserver/test_bytes.h"
#include "core/sha256.h"
#include "tests/bootserver/boot_stack.h"
#include "tests/bootserver/lossy_udp_relay.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BootStack;
using ::midwife::testing::ChildProcess;
using ::midwife::testing::LossyUdpRelay;
using ::midwife::testing::LossyUdpRelayOptions;

constexpr int kTransfers = 50;
constexpr double kShare = 0.10;  // dropped, duplicated and reordered, each way
// All 50 transfers of a batch must be done by then. A transfer's expected
// time is a few seconds; a server that stalls (waits out a full timeout
// schedule, or never resumes a window) blows it. The tail is long, though:
// a lock-step transfer that loses the same block several times waits out
// tftp-hpa's own 5 s retransmit each time (slowest of 50: 14 to 22 s on a
// loaded 2-core machine, and one in about five batches still running at 30 s
// with the server's counters showing nothing failed).
constexpr auto kBatchBound = std::chrono::seconds(60);
constexpr int kAttempts = 10;
constexpr char kSecondOackAbort[] = "tftp: unexpected OACK";

std::string Bytes(size_t n, uint32_t seed) { return ::midwife::bootserver::testing::SeededBytes(n, seed); }

class LossyTftpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartStore());
    ASSERT_EQ(stack_.MakeImage("small", "1", small_), "");
    ASSERT_EQ(stack_.MakeImage("large", "1", large_), "");
    ASSERT_TRUE(stack_.StartBootServer());
    LossyUdpRelayOptions options;
    options.server = boost::asio::ip::udp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"),
                                                    stack_.tftp_port());
    options.seed = 20261201;
    options.to_server = {.drop = kShare, .duplicate = kShare, .reorder = kShare};
    options.to_client = options.to_server;
    auto relay = LossyUdpRelay::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }

  static std::string BlobPath(const std::string& bytes) {
    return "blobs/sha256/" + Sha256Hex(bytes);
  }

  std::unique_ptr<ChildProcess> TftpHpa(const std::string& remote, const std::string& local) {
    const std::string commands = local + ".commands";
    EXPECT_TRUE(WriteFileAtomically(commands, absl::StrCat("binary\nrexmt 1\ntimeout 60\nget ",
                                                           remote, " ", local, "\nquit\n"))
                    .ok());
    // exec: the test's SIGKILL on a stuck client reaches tftp itself.
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            absl::StrCat("exec /usr/bin/tftp 127.0.0.1 ", relay_->port(), " < ", commands)},
        local + ".log");
  }

  std::unique_ptr<ChildProcess> Atftp(const std::string& remote, const std::string& local,
                                      std::vector<std::string> options) {
    std::vector<std::string> argv = {"/usr/bin/atftp"};
    for (const auto& option : options) argv.insert(argv.end(), {"--option", option});
    argv.insert(argv.end(), {"--tftp-timeout", "3", "-g", "-r", remote, "-l", local, "127.0.0.1",
                             std::to_string(relay_->port())});
    return std::make_unique<ChildProcess>(argv, local + ".log");
  }

  // Starts all clients at once and waits (bounded) until every file is in
  // byte-exact. A client that exits without it is started again, up to
  // kAttempts times in all, as a PXE ROM retries a failed load.
  void RunBatch(
      const std::string& name, const std::string& expected,
      const std::function<std::unique_ptr<ChildProcess>(int, const std::string&)>& start) {
    const auto begin = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<ChildProcess>> clients;
    std::vector<std::string> files;
    std::vector<int> attempts(kTransfers, 1);
    std::vector<std::string> retry_reasons;
    for (int i = 0; i < kTransfers; ++i) {
      files.push_back(stack_.tmp().File(absl::StrCat(name, "-", i)));
      clients.push_back(start(i, files.back()));
    }
    auto byte_exact = [&](int i) {
      auto got = ReadFile(files[i]);
      return got.ok() && Sha256Hex(*got) == Sha256Hex(expected);
    };
    std::vector<double> seconds(kTransfers, -1);
    int running = kTransfers;
    while (running > 0 && std::chrono::steady_clock::now() - begin < kBatchBound) {
      for (int i = 0; i < kTransfers; ++i) {
        int status = 0;
        if (seconds[i] >= 0 || !clients[i]->Exited(&status)) continue;
        const std::string log = clients[i]->Log();
        if (!byte_exact(i) && attempts[i] < kAttempts &&
            log.find(kSecondOackAbort) != std::string::npos) {
          retry_reasons.push_back(log.substr(log.rfind('\n', log.size() - 2) + 1));
          ::unlink((files[i] + ".log").c_str());
          ++attempts[i];
          clients[i] = start(i, files[i]);
          continue;
        }
        seconds[i] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        --running;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    double slowest = 0;
    for (int i = 0; i < kTransfers; ++i) {
      EXPECT_GE(seconds[i], 0) << name << " transfer " << i << " still running after "
                               << kBatchBound.count() << " s:\n"
                               << clients[i]->Log();
      slowest = std::max(slowest, seconds[i]);
      EXPECT_TRUE(byte_exact(i)) << name << " transfer " << i << " is not byte-exact after "
                                 << attempts[i] << " attempts:\n"
                                 << clients[i]->Log();
    }
    const auto& c = relay_->counters();
    // The link was as bad as claimed, both ways, or the test shows nothing.
    for (const auto* way : {&c.to_server, &c.to_client}) {
      EXPECT_GT(way->dropped.load(), way->received.load() / 20);
      EXPECT_GT(way->duplicated.load(), way->received.load() / 20);
      EXPECT_GT(way->reordered.load(), way->received.load() / 20);
    }
    const auto metrics = BootStack::Curl({stack_.http_url() + "/metrics"}).out;
    std::smatch retransmissions, failed, duplicates;
    std::regex_search(metrics, duplicates,
                      std::regex("midwife_tftp_duplicate_requests_total ([0-9]+)"));
    std::regex_search(metrics, retransmissions,
                      std::regex("midwife_tftp_retransmissions_total ([0-9]+)"));
    // Transfers a duplicated RRQ started beside the one the client kept:
    // the client refuses their DATA, or they time out.
    std::regex_search(metrics, failed,
                      std::regex("midwife_tftp_transfers_total\\{result=\"failed\"\\} ([0-9]+)"));
    std::sort(seconds.begin(), seconds.end());
    std::cout << name << ": " << kTransfers << " transfers of " << expected.size() << " B, median "
              << seconds[kTransfers / 2] << " s, slowest " << slowest
              << " s; relay to server: " << c.to_server.received << " in, " << c.to_server.dropped
              << " dropped, " << c.to_server.duplicated << " duplicated, " << c.to_server.reordered
              << " reordered; to client: " << c.to_client.received << " in, " << c.to_client.dropped
              << " dropped, " << c.to_client.duplicated << " duplicated, " << c.to_client.reordered
              << " reordered; server retransmissions " << retransmissions[1]
              << ", server transfers failed " << failed[1] << "; " << c.flows << " flows, "
              << c.server_tids << " server TIDs, " << duplicates[1] << " repeated RRQs ignored; "
              << retry_reasons.size() << " client restarts\n";
    for (const auto& reason : retry_reasons) std::cout << "  restarted after: " << reason;
  }

  BootStack stack_;
  std::unique_ptr<LossyUdpRelay> relay_;
  const std::string small_ = Bytes(8 << 10, 11);
  const std::string large_ = Bytes(256 << 10, 12);
};

TEST_F(LossyTftpTest, FiftyLockStepTransfersCompleteByteExactThroughALossyLink) {
  // No options: 512-byte blocks, one at a time. Half tftp-hpa, half atftp.
  RunBatch("lockstep", small_, [&](int i, const std::string& local) {
    return i % 2 == 0 ? TftpHpa(BlobPath(small_), local) : Atftp(BlobPath(small_), local, {});
  });
}

TEST_F(LossyTftpTest, FiftyWindowedTransfersCompleteByteExactThroughALossyLink) {
  RunBatch("windowed", large_, [&](int, const std::string& local) {
    return Atftp(BlobPath(large_), local, {"blksize 1468", "windowsize 16"});
  });
}

}  // namespace
}  // namespace midwife::bootserver
