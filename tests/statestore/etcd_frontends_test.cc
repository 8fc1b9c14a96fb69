// Two real `statestore serve --engine etcd` frontends over a real 3-member
// etcd cluster on loopback ports: concurrent backups through both while etcd
// members (a follower, then the leader) are killed with SIGKILL, frontend
// restarts, and compare-and-set conflicts between frontends. Skipped only
// when Debian's etcd-server is not installed.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "core/sha256.h"
#include "tests/statestore/change_watcher.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::TempDir;
using testing::ChangeWatcher;
using testing::EtcdCluster;
using testing::StateStoreServer;

std::string Mac(int i) {
  return absl::StrFormat("02:00:00:e7:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class EtcdFrontendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EtcdCluster::Binary().empty()) {
      GTEST_SKIP()
          << "etcd is not installed (apt-get install etcd-server): etcd frontend tests skipped";
    }
    cluster_ = std::make_unique<EtcdCluster>(tmp_.File("etcd"));
    ASSERT_TRUE(cluster_->Start()) << cluster_->Logs();
    for (int i = 0; i < 2; ++i) {
      std::string data = tmp_.File(absl::StrFormat("frontend%d", i));
      if (i == 1) {
        // Every frontend of one cluster shares the admin token and the
        // host-token secret.
        std::filesystem::create_directories(data);
        for (const char* f : {"admin.token", "host-token.secret"}) {
          std::filesystem::copy_file(tmp_.File("frontend0") + "/" + f, data + "/" + f);
        }
      }
      frontends_.push_back(std::make_unique<StateStoreServer>(
          data, std::vector<std::string>{"--engine", "etcd", "--etcd-endpoints",
                                         cluster_->EndpointsFlag(), "--etcd-timeout-ms", "2000",
                                         "--orphan-sweep-seconds", "5"}));
      ASSERT_TRUE(frontends_.back()->Start()) << frontends_.back()->log();
    }
  }

  TempDir tmp_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::vector<std::unique_ptr<StateStoreServer>> frontends_;
};

TEST_F(EtcdFrontendsTest, AcknowledgedBackupsSurviveKillingAFollowerThenTheLeader) {
  constexpr int kWriters = 8;
  std::mutex mu;
  std::vector<std::tuple<std::string, uint64_t, std::string>> acknowledged;  // mac, version, sha
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      // Writers alternate between the two frontends.
      auto client = frontends_[w % 2]->AdminClient();
      for (int i = 0; !stop; ++i) {
        // Every fourth backup is larger than one etcd request: staged.
        const size_t size = (i % 4 == 3) ? (2 << 20) : 2000;
        std::string archive =
            MakeEsxiStateTgz({{"etc/payload", RandomBytes(size, w * 100000 + i)}});
        auto r = client->Backup(Mac(w + 1), archive);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        acknowledged.emplace_back(Mac(w + 1), r->version().version(), Sha256Hex(archive));
      }
    });
  }
  auto wait_for_more = [&](size_t more) {
    size_t target;
    {
      std::lock_guard lock(mu);
      target = acknowledged.size() + more;
    }
    for (int spins = 0; spins < 3000; ++spins) {
      {
        std::lock_guard lock(mu);
        if (acknowledged.size() >= target) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  EXPECT_TRUE(wait_for_more(50));
  const int leader = cluster_->Leader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  cluster_->Kill9(follower);
  EXPECT_TRUE(wait_for_more(50)) << "no progress with a follower down";
  ASSERT_TRUE(cluster_->Restart(follower)) << cluster_->Logs();
  const int leader_now = cluster_->Leader();
  ASSERT_GE(leader_now, 0);
  cluster_->Kill9(leader_now);
  EXPECT_TRUE(wait_for_more(50)) << "no progress after the leader died";
  ASSERT_TRUE(cluster_->Restart(leader_now)) << cluster_->Logs();
  EXPECT_TRUE(wait_for_more(20));
  stop = true;
  for (auto& t : writers) t.join();
  // Client-side retries absorb elections; count what still failed.
  RecordProperty("failed_backups", failures.load());
  RecordProperty("acknowledged_backups", static_cast<int>(acknowledged.size()));

  // Retention keeps the newest 10 per host: each acknowledged version among
  // them restores byte-exact, through either frontend.
  std::map<std::string, uint64_t> newest;
  auto admin = frontends_[1]->AdminClient();
  for (int w = 0; w < kWriters; ++w) {
    auto stat = admin->Stat(Mac(w + 1));
    ASSERT_TRUE(stat.ok()) << stat.status();
    newest[Mac(w + 1)] = stat->version();
  }
  int checked = 0;
  for (size_t i = 0; i < acknowledged.size(); ++i) {
    const auto& [mac, version, sha] = acknowledged[i];
    EXPECT_LE(version, newest[mac]);
    if (version + 10 <= newest[mac]) continue;
    auto r = frontends_[i % 2]->AdminClient()->Restore(mac, version);
    ASSERT_TRUE(r.ok()) << mac << "@" << version << ": " << r.status();
    EXPECT_EQ(Sha256Hex(r->archive), sha) << mac << "@" << version;
    ++checked;
  }
  EXPECT_GE(checked, kWriters);
}

TEST_F(EtcdFrontendsTest, FrontendRestartLosesNothing) {
  std::map<std::string, std::string> stored;  // mac -> sha
  auto client = frontends_[0]->AdminClient();
  for (int i = 0; i < 10; ++i) {
    std::string archive =
        MakeEsxiStateTgz({{"etc/payload", RandomBytes(i == 9 ? (3 << 20) : 100, i)}});
    auto r = client->Backup(Mac(100 + i), archive);
    ASSERT_TRUE(r.ok()) << r.status();
    stored[Mac(100 + i)] = Sha256Hex(archive);
  }
  frontends_[0]->Kill9();
  ASSERT_TRUE(frontends_[0]->Start()) << frontends_[0]->log();
  for (int f = 0; f < 2; ++f) {
    auto admin = frontends_[f]->AdminClient();
    for (const auto& [mac, sha] : stored) {
      auto r = admin->Restore(mac);
      ASSERT_TRUE(r.ok()) << mac << ": " << r.status();
      EXPECT_EQ(Sha256Hex(r->archive), sha);
    }
  }
}

TEST_F(EtcdFrontendsTest, CompareAndSetAcrossFrontendsHasExactlyOneWinner) {
  const std::string mac = Mac(200);
  auto seed = frontends_[0]->AdminClient()->Backup(mac, MakeEsxiStateTgz({{"etc/seed", "0"}}));
  ASSERT_TRUE(seed.ok()) << seed.status();
  uint64_t version = seed->version().version();
  // Past 10 versions retention prunes within the racing commits too.
  for (int round = 0; round < 14; ++round) {
    std::atomic<int> won{0}, aborted{0};
    std::string winner_sha[2];
    std::vector<std::thread> racers;
    for (int f = 0; f < 2; ++f) {
      racers.emplace_back([&, f] {
        std::string archive =
            MakeEsxiStateTgz({{"etc/racer", absl::StrFormat("round %d frontend %d", round, f)}});
        auto r = frontends_[f]->AdminClient()->Backup(mac, archive, v1::BACKUP_KIND_UNSPECIFIED, {},
                                                      version);
        if (r.ok()) {
          ++won;
          winner_sha[f] = Sha256Hex(archive);
        } else if (absl::IsAborted(r.status())) {
          ++aborted;
        } else {
          ADD_FAILURE() << r.status();
        }
      });
    }
    for (auto& t : racers) t.join();
    ASSERT_EQ(won, 1) << "round " << round;
    ASSERT_EQ(aborted, 1) << "round " << round;
    auto newest = frontends_[1]->AdminClient()->Restore(mac);
    ASSERT_TRUE(newest.ok()) << newest.status();
    EXPECT_EQ(newest->info.version(), version + 1);
    EXPECT_EQ(Sha256Hex(newest->archive), winner_sha[0].empty() ? winner_sha[1] : winner_sha[0]);
    version = newest->info.version();
  }
}

TEST_F(EtcdFrontendsTest, WatchersOfOneFrontendSeeBackupsMadeThroughTheOther) {
  auto watch_client = frontends_[1]->AdminClient();
  ChangeWatcher watcher(*watch_client);
  ASSERT_TRUE(watcher.WaitFor([](const v1::Change& c) { return c.kind() == v1::Change::RESYNC; }));
  // Small (one transaction) and large (staged) backups alike.
  for (size_t size : {size_t{100}, size_t{3} << 20}) {
    const std::string archive = MakeEsxiStateTgz({{"etc/payload", RandomBytes(size, size)}});
    auto stored = frontends_[0]->AdminClient()->Backup(Mac(300), archive);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(watcher.WaitFor([&](const v1::Change& c) {
      return c.kind() == v1::Change::HEAD && c.mac() == Mac(300) &&
             c.newest_version() == stored->version().version() &&
             c.newest_sha256() == Sha256Hex(archive);
    })) << "size "
        << size;
  }
  // The relay survives the loss of the etcd member it watched through (the
  // first endpoint: the engine starts there).
  cluster_->Kill9(0);
  ASSERT_TRUE(
      frontends_[0]->AdminClient()->Backup(Mac(301), MakeEsxiStateTgz({{"etc/a", "1"}})).ok());
  ASSERT_TRUE(cluster_->Restart(0)) << cluster_->Logs();
  ASSERT_TRUE(frontends_[0]->AdminClient()->DeleteHost(Mac(300)).ok());
  EXPECT_TRUE(watcher.WaitFor(
      [](const v1::Change& c) { return c.kind() == v1::Change::HEAD && c.mac() == Mac(301); }));
  EXPECT_TRUE(watcher.WaitFor([](const v1::Change& c) {
    return c.kind() == v1::Change::HOST_DELETED && c.mac() == Mac(300);
  }));
}

}  // namespace
}  // namespace midwife::statestore
