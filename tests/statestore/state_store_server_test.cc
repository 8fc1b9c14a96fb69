// Integration: a real `statestore serve` process on a loopback port, driven
// by the real client library and the real CLI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using testing::StateStoreServer;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Mac(int i) { return absl::StrFormat("02:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff); }

class StateStoreServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<StateStoreServer>(tmp_.File("data"));
    ASSERT_TRUE(server_->Start()) << server_->log();
    admin_ = server_->AdminClient();
    ASSERT_NE(admin_, nullptr);
  }
  std::vector<std::string> Cli(std::initializer_list<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("statestore")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--server", server_->address(), "--token", server_->admin_token()});
    return argv;
  }

  TempDir tmp_;
  std::unique_ptr<StateStoreServer> server_;
  std::unique_ptr<StateStoreClient> admin_;
};

TEST_F(StateStoreServerTest, RoundTripsArchivesOfOneByteTo8MiBByteEqual) {
  int i = 0;
  for (size_t payload : {size_t{1}, size_t{64} << 10, size_t{8} << 20}) {
    const std::string archive =
        MakeEsxiStateTgz({{"etc/payload", RandomBytes(payload, payload)}});
    auto stored = admin_->Backup(Mac(++i), archive);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(stored->created());
    EXPECT_EQ(stored->version().sha256(), Sha256Hex(archive));
    EXPECT_EQ(stored->version().kind(), v1::BACKUP_KIND_ESXI_STATE);
    auto restored = admin_->Restore(Mac(i));
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_TRUE(restored->archive == archive) << "payload " << payload;
    EXPECT_EQ(restored->info.version(), stored->version().version());
  }
}

TEST_F(StateStoreServerTest, IdenticalBackupMakesNoNewVersion) {
  const std::string archive = MakeEsxiStateTgz({{"etc/hosts", "127.0.0.1 localhost\n"}});
  auto first = admin_->Backup(Mac(1), archive);
  auto second = admin_->Backup(Mac(1), archive);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(first->created());
  EXPECT_FALSE(second->created());
  EXPECT_EQ(second->version().version(), first->version().version());
  auto versions = admin_->ListVersions(Mac(1));
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);
}

TEST_F(StateStoreServerTest, SixtyFourClientsTimesHundredBackupsAllRestorable) {
  constexpr int kClients = 64;
  constexpr int kBackups = 100;
  std::mutex mu;
  std::map<std::pair<std::string, uint64_t>, std::string> acknowledged;  // -> sha256
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = server_->AdminClient();
      for (int b = 0; b < kBackups; ++b) {
        std::string archive = MakeEsxiStateTgz(
            {{"etc/hosts", absl::StrFormat("client %d backup %d\n", c, b)}});
        auto r = client->Backup(Mac(c + 1), archive);
        if (!r.ok()) {
          if (++failures == 1) ADD_FAILURE() << "first failure: " << r.status();
          continue;
        }
        std::lock_guard lock(mu);
        acknowledged[{Mac(c + 1), r->version().version()}] = r->version().sha256();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  // Retention keeps the newest 10 per host; each of those must restore.
  int restored = 0;
  for (int c = 0; c < kClients; ++c) {
    auto versions = admin_->ListVersions(Mac(c + 1));
    ASSERT_TRUE(versions.ok()) << versions.status();
    ASSERT_EQ(versions->size(), 10u);
    EXPECT_EQ(versions->front().version(), static_cast<uint64_t>(kBackups));
    for (const auto& v : *versions) {
      auto r = admin_->Restore(Mac(c + 1), v.version());
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(Sha256Hex(r->archive), (acknowledged[{Mac(c + 1), v.version()}]));
      ++restored;
    }
  }
  EXPECT_EQ(restored, kClients * 10);
}

TEST_F(StateStoreServerTest, HostTokenWorksOnlyForItsOwnMac) {
  auto token_a = admin_->IssueHostToken(Mac(1));
  ASSERT_TRUE(token_a.ok());
  auto host_a = server_->ClientWithToken(*token_a);
  const std::string archive = MakeEsxiStateTgz({{"etc/hosts", "a\n"}});
  EXPECT_TRUE(host_a->Backup(Mac(1), archive).ok());
  EXPECT_TRUE(host_a->Restore(Mac(1)).ok());

  auto wrong_host = host_a->Backup(Mac(2), archive);
  EXPECT_EQ(wrong_host.status().code(), absl::StatusCode::kPermissionDenied) << wrong_host.status();
  EXPECT_EQ(host_a->Restore(Mac(2)).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(host_a->ListHosts(10, "").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(host_a->DeleteHost(Mac(1)).status().code(), absl::StatusCode::kPermissionDenied);

  auto anonymous = server_->ClientWithToken("");
  EXPECT_EQ(anonymous->Stat(Mac(1)).status().code(), absl::StatusCode::kUnauthenticated);
  auto forged = server_->ClientWithToken("not-a-token");
  EXPECT_EQ(forged->Backup(Mac(1), archive).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(StateStoreServerTest, RefusedBackupLeavesStoreUntouched) {
  const std::string good = MakeEsxiStateTgz({{"etc/hosts", "good\n"}});
  ASSERT_TRUE(admin_->Backup(Mac(1), good).ok());
  auto bad = admin_->Backup(Mac(1), "this is not a tarball");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_mac = admin_->Backup("ff:ff:ff:ff:ff:ff", good);
  EXPECT_EQ(bad_mac.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_mac.status().message()), HasSubstr("ff:ff:ff:ff:ff:ff"));
  auto stale = admin_->Backup(Mac(1), MakeEsxiStateTgz({{"etc/hosts", "new\n"}}),
                              v1::BACKUP_KIND_UNSPECIFIED, {}, /*expected_version=*/7);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  auto versions = admin_->ListVersions(Mac(1));
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 1u);
  auto restored = admin_->Restore(Mac(1));
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->archive, good);
}

TEST_F(StateStoreServerTest, MacFormsNameTheSameHost) {
  ASSERT_TRUE(admin_->Backup("AA-BB-CC-DD-EE-F0", MakeEsxiStateTgz({{"etc/a", "1"}})).ok());
  auto stat = admin_->Stat("aabb.ccdd.eef0");
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->mac(), "aa:bb:cc:dd:ee:f0");
  EXPECT_TRUE(admin_->Stat("01-aa-bb-cc-dd-ee-f0").ok());
}

TEST_F(StateStoreServerTest, CopyGivesReplacementHostTheFailedHostsState) {
  const std::string archive = MakeEsxiStateTgz({{"etc/vmware/esx.conf", "/adv/x = \"1\"\n"}});
  ASSERT_TRUE(admin_->Backup(Mac(1), archive).ok());
  auto copied = admin_->Copy(Mac(1), Mac(2), 0);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(copied->mac(), Mac(2));
  EXPECT_EQ(copied->labels().at("copied_from"), Mac(1) + "@1");
  auto restored = admin_->Restore(Mac(2));
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->archive, archive);
}

TEST_F(StateStoreServerTest, CliBacksUpRestoresAndFailsWithOneLineReason) {
  const std::string archive = MakeEsxiStateTgz({{"etc/hosts", "cli\n"}});
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("in.tgz"), archive).ok());
  auto backup = RunCommand(Cli({"backup", "--mac", "02-00-00-00-00-09", "--file", tmp_.File("in.tgz"),
                                "--label", "site=lab", "--json"}));
  ASSERT_EQ(backup.exit_code, 0) << backup.out;
  EXPECT_THAT(backup.out, HasSubstr("\"mac\": \"02:00:00:00:00:09\""));
  EXPECT_THAT(backup.out, HasSubstr("\"site\": \"lab\""));

  auto restore = RunCommand(Cli({"restore", "--mac", "02:00:00:00:00:09", "--out", tmp_.File("out.tgz")}));
  ASSERT_EQ(restore.exit_code, 0) << restore.out;
  EXPECT_EQ(*ReadFile(tmp_.File("out.tgz")), archive);

  auto versions = RunCommand(Cli({"versions", "--mac", "02:00:00:00:00:09"}));
  ASSERT_EQ(versions.exit_code, 0) << versions.out;
  EXPECT_THAT(versions.out, HasSubstr("esxi-state"));

  auto missing = RunCommand(Cli({"stat", "--mac", "02:00:00:00:00:0a"}));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.out, HasSubstr("no backup stored for host 02:00:00:00:00:0a"));
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;
}

TEST(StateStoreCrashTest, EveryAcknowledgedBackupSurvivesKill9) {
  TempDir tmp;
  StateStoreServer server(tmp.File("data"));
  ASSERT_TRUE(server.Start()) << server.log();
  constexpr int kWriters = 16;
  std::mutex mu;
  std::vector<std::tuple<std::string, uint64_t, std::string>> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto client = server.AdminClient();
      for (int i = 0; !stop; ++i) {
        auto r = client->Backup(Mac(w + 1),
                                MakeEsxiStateTgz({{"etc/hosts", absl::StrFormat("%d %d\n", w, i)}}));
        if (!r.ok()) break;  // The server died under us: this one was never acknowledged.
        std::lock_guard lock(mu);
        acknowledged.emplace_back(Mac(w + 1), r->version().version(), r->version().sha256());
      }
    });
  }
  // Let a few hundred backups through, then kill the server mid-stream.
  for (int spins = 0; spins < 1000; ++spins) {
    {
      std::lock_guard lock(mu);
      if (acknowledged.size() >= 300) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.Kill9();
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GE(acknowledged.size(), 100u);

  ASSERT_TRUE(server.Start()) << server.log();
  auto admin = server.AdminClient();
  // Nothing acknowledged was rolled back: each host's newest version is at
  // least its newest acknowledged one (a backup committed but killed before
  // its reply may make it newer).
  std::map<std::string, uint64_t> acked_newest;
  for (const auto& [mac, version, sha] : acknowledged) {
    acked_newest[mac] = std::max(acked_newest[mac], version);
  }
  std::map<std::string, uint64_t> newest;
  for (const auto& [mac, v] : acked_newest) {
    auto stat = admin->Stat(mac);
    ASSERT_TRUE(stat.ok()) << stat.status();
    EXPECT_GE(stat->version(), v) << mac;
    newest[mac] = stat->version();
  }
  // Retention keeps the newest 10 per host; every acknowledged version among
  // them must restore with its digest.
  int checked = 0;
  for (const auto& [mac, version, sha] : acknowledged) {
    if (version + 10 <= newest[mac]) continue;
    auto r = admin->Restore(mac, version);
    ASSERT_TRUE(r.ok()) << mac << "@" << version << ": " << r.status();
    EXPECT_EQ(Sha256Hex(r->archive), sha);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace midwife::statestore

namespace midwife::statestore {
namespace {

TEST(StateStoreCallLimitTest, SilentBackupStreamIsCancelledAndStoresNothing) {
  midwife::testing::TempDir tmp;
  testing::StateStoreServer server(tmp.File("data"), {"--max-call-seconds", "1"});
  ASSERT_TRUE(server.Start()) << server.log();
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::StateStore::NewStub(channel);
  grpc::ClientContext context;  // No deadline: only the server's limit applies.
  context.AddMetadata("authorization", "Bearer " + server.admin_token());
  v1::BackupResponse response;
  auto writer = stub->Backup(&context, &response);
  v1::BackupRequest header;
  header.mutable_header()->set_mac("02:00:00:00:00:77");
  ASSERT_TRUE(writer->Write(header));
  // Then nothing: no chunk, no WritesDone.
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  auto admin = server.AdminClient();
  EXPECT_EQ(admin->Stat("02:00:00:00:00:77").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace midwife::statestore
