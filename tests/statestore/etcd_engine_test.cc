// EtcdEngine and BackupStore against a real 3-member etcd cluster on
// loopback ports: the StorageEngine contract (Get, Scan, Commit and its
// preconditions), failover, limits, staged large backups and the orphan
// sweep. Skipped only when Debian's etcd-server is not installed.
#include "statestore/etcd_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "core/sha256.h"
#include "statestore/backup_store.h"
#include "statestore/key_layout.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using testing::EtcdCluster;
using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class EtcdEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (EtcdCluster::Binary().empty()) return;
    tmp_ = new TempDir();
    cluster_ = new EtcdCluster(tmp_->path());
    started_ = cluster_->Start();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete tmp_;
    cluster_ = nullptr;
    tmp_ = nullptr;
  }
  void SetUp() override {
    if (EtcdCluster::Binary().empty()) {
      GTEST_SKIP()
          << "etcd is not installed (apt-get install etcd-server): etcd engine tests skipped";
    }
    ASSERT_TRUE(started_) << cluster_->Logs();
    engine_ = Connect(cluster_->endpoints());
    ASSERT_NE(engine_, nullptr);
    // Each test works under a prefix of its own on the shared cluster.
    prefix_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/";
  }
  static std::unique_ptr<EtcdEngine> Connect(std::vector<std::string> endpoints) {
    EtcdEngineOptions options;
    options.endpoints = std::move(endpoints);
    options.attempt_timeout = std::chrono::seconds(2);
    options.call_timeout = std::chrono::seconds(10);
    auto engine = EtcdEngine::Connect(options);
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  std::string Key(const std::string& k) const { return prefix_ + k; }

  static TempDir* tmp_;
  static EtcdCluster* cluster_;
  static bool started_;
  std::unique_ptr<EtcdEngine> engine_;
  std::string prefix_;
};
TempDir* EtcdEngineTest::tmp_ = nullptr;
EtcdCluster* EtcdEngineTest::cluster_ = nullptr;
bool EtcdEngineTest::started_ = false;

TEST_F(EtcdEngineTest, GetReturnsWhatCommitPutAndNulloptForAbsent) {
  auto absent = engine_->Get(Key("a"));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_value());
  WriteBatch batch;
  batch.puts = {{Key("a"), std::string("v\0x", 3)}, {Key("empty"), ""}};
  ASSERT_TRUE(engine_->Commit({}, batch).ok());
  auto a = engine_->Get(Key("a"));
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ(**a, std::string("v\0x", 3));
  auto empty = engine_->Get(Key("empty"));
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_EQ(**empty, "");
}

TEST_F(EtcdEngineTest, ScanHonoursPrefixStartAfterAndLimitInKeyOrder) {
  WriteBatch batch;
  for (const char* k : {"s/b", "s/a", "s/c", "s/d", "sx", "r"}) batch.puts.emplace_back(Key(k), k);
  ASSERT_TRUE(engine_->Commit({}, batch).ok());
  auto keys_of = [](const std::vector<KeyValue>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.key);
    return out;
  };
  auto all = engine_->Scan(Key("s/"), "", 0);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(keys_of(*all), ElementsAre(Key("s/a"), Key("s/b"), Key("s/c"), Key("s/d")));
  EXPECT_EQ((*all)[0].value, "s/a");
  auto after = engine_->Scan(Key("s/"), Key("s/b"), 2);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(keys_of(*after), ElementsAre(Key("s/c"), Key("s/d")));
  auto limited = engine_->Scan(Key("s/"), "", 3);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 3u);
  auto keys = engine_->ScanKeys(Key("s/"), Key("s/a"), 0);
  ASSERT_TRUE(keys.ok());
  EXPECT_THAT(*keys, ElementsAre(Key("s/b"), Key("s/c"), Key("s/d")));
}

TEST_F(EtcdEngineTest, ScanPagesBeyondOneRangeRequest) {
  // More than one page of keys (1000) and of values (64).
  for (int part = 0; part < 3; ++part) {
    WriteBatch batch;
    for (int i = part * 100; i < (part + 1) * 100; ++i) {
      char name[16];
      std::snprintf(name, sizeof(name), "p/%04d", i);
      batch.puts.emplace_back(Key(name), std::to_string(i));
    }
    ASSERT_TRUE(engine_->Commit({}, batch).ok());
  }
  auto rows = engine_->Scan(Key("p/"), "", 0);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ((*rows)[i].value, std::to_string(i));
}

TEST_F(EtcdEngineTest, FailedPreconditionIsAbortedAndWritesNothing) {
  WriteBatch first;
  first.puts = {{Key("head"), "1"}};
  ASSERT_TRUE(engine_->Commit({{Key("head"), std::nullopt}}, first).ok());
  // Absent expected, present found.
  WriteBatch second;
  second.puts = {{Key("head"), "2"}, {Key("other"), "x"}};
  absl::Status st = engine_->Commit({{Key("head"), std::nullopt}}, second);
  EXPECT_TRUE(absl::IsAborted(st)) << st;
  // Wrong value expected.
  st = engine_->Commit({{Key("head"), "0"}}, second);
  EXPECT_TRUE(absl::IsAborted(st)) << st;
  // A value expected for an absent key.
  st = engine_->Commit({{Key("nothing"), ""}}, second);
  EXPECT_TRUE(absl::IsAborted(st)) << st;
  EXPECT_FALSE(engine_->Get(Key("other"))->has_value());
  EXPECT_EQ(**engine_->Get(Key("head")), "1");
  // Right value: applied, deletes included.
  second.deletes = {Key("gone")};
  ASSERT_TRUE(engine_->Commit({{Key("head"), "1"}}, second).ok());
  EXPECT_EQ(**engine_->Get(Key("head")), "2");
  EXPECT_EQ(**engine_->Get(Key("other")), "x");
}

TEST_F(EtcdEngineTest, AnyValuePreconditionNeedsTheKeyPresent) {
  WriteBatch batch;
  batch.puts = {{Key("out"), "1"}};
  EXPECT_TRUE(absl::IsAborted(engine_->Commit({{Key("chunk"), std::nullopt, true}}, batch)));
  WriteBatch chunk;
  chunk.puts = {{Key("chunk"), ""}};
  ASSERT_TRUE(engine_->Commit({}, chunk).ok());
  EXPECT_TRUE(engine_->Commit({{Key("chunk"), std::nullopt, true}}, batch).ok());
}

TEST_F(EtcdEngineTest, ConcurrentCompareAndSetHasOneWinnerPerRound) {
  WriteBatch init;
  init.puts = {{Key("cas"), "0"}};
  ASSERT_TRUE(engine_->Commit({}, init).ok());
  for (int round = 0; round < 10; ++round) {
    const std::string expected = std::to_string(round);
    std::atomic<int> won{0}, aborted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        WriteBatch next;
        next.puts = {{Key("cas"), std::to_string(round + 1)}};
        absl::Status st = engine_->Commit({{Key("cas"), expected}}, next);
        if (st.ok()) ++won;
        if (absl::IsAborted(st)) ++aborted;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won, 1);
    EXPECT_EQ(aborted, 3);
  }
}

TEST_F(EtcdEngineTest, CommitBeyondEtcdLimitsIsRefusedBeforeSending) {
  WriteBatch big;
  big.puts = {{Key("big"), std::string(2 << 20, 'x')}};
  absl::Status st = engine_->Commit({}, big);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("limits"));
  WriteBatch many;
  for (int i = 0; i < 200; ++i) many.deletes.push_back(Key(std::to_string(i)));
  EXPECT_TRUE(absl::IsInvalidArgument(engine_->Commit({}, many)));
  EXPECT_EQ(engine_->Limits().max_ops, kEtcdDefaultMaxTxnOps);
}

TEST_F(EtcdEngineTest, DeadEndpointsAreSkipped) {
  std::vector<std::string> endpoints = {"127.0.0.1:1"};  // Nothing listens there.
  endpoints.insert(endpoints.end(), cluster_->endpoints().begin(), cluster_->endpoints().end());
  auto engine = Connect(endpoints);
  WriteBatch batch;
  batch.puts = {{Key("k"), "v"}};
  ASSERT_TRUE(engine->Commit({}, batch).ok());
  EXPECT_EQ(**engine->Get(Key("k")), "v");
}

TEST_F(EtcdEngineTest, NoReachableMemberIsUnavailableWithinTheCallDeadline) {
  EtcdEngineOptions options;
  options.endpoints = {"127.0.0.1:1", "127.0.0.1:2"};
  options.attempt_timeout = std::chrono::milliseconds(200);
  options.call_timeout = std::chrono::milliseconds(1500);
  auto engine = EtcdEngine::Connect(options);
  ASSERT_TRUE(engine.ok());
  const auto start = std::chrono::steady_clock::now();
  auto got = (*engine)->Get("x");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(EtcdEngineTest, BackupLargerThanOneEtcdRequestIsStagedAndRestoresByteExact) {
  BackupStore store(*engine_, {});
  const MacAddress mac = *MacAddress::Parse("02:00:00:00:e7:01");
  std::vector<std::string> archives;
  for (int i = 0; i < 3; ++i) {
    archives.push_back(MakeEsxiStateTgz({{"etc/payload", RandomBytes((5 << 20) + i, i)}}));
    v1::BackupHeader header;
    auto stored = store.Backup(mac, header, archives.back());
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->version.version(), static_cast<uint64_t>(i + 1));
  }
  for (int i = 0; i < 3; ++i) {
    auto restored = store.Restore(mac, i + 1);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_TRUE(restored->archive == archives[i]);
  }
  // The CAS on expected_version holds for staged backups too.
  v1::BackupHeader stale;
  stale.set_expected_version(2);
  auto refused =
      store.Backup(mac, stale, MakeEsxiStateTgz({{"etc/payload", RandomBytes(3 << 20, 9)}}));
  EXPECT_TRUE(absl::IsAborted(refused.status())) << refused.status();
  // Deleting the host removes every chunk, however many commits that takes.
  auto deleted = store.DeleteHost(mac);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  auto left = engine_->ScanKeys("d/" + mac.ToString() + "/", "", 0);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(EtcdEngineTest, OrphanChunksAreCollectedAtTheSecondSweepAndCommittedOnesNever) {
  BackupStore store(*engine_, {});
  const MacAddress mac = *MacAddress::Parse("02:00:00:00:e7:02");
  const std::string archive = MakeEsxiStateTgz({{"etc/payload", RandomBytes(3 << 20, 7)}});
  ASSERT_TRUE(store.Backup(mac, {}, archive).ok());
  // A writer that died after its chunks, before its version record.
  WriteBatch orphan;
  orphan.puts = {{keys::Chunk(mac.ToString(), 7, 0), "x"},
                 {keys::Chunk(mac.ToString(), 7, 1), "y"}};
  ASSERT_TRUE(engine_->Commit({}, orphan).ok());
  std::set<std::string> suspects;
  auto first = store.SweepOrphanChunks(suspects);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 0u);  // Only suspected so far.
  EXPECT_TRUE(engine_->Get(keys::Chunk(mac.ToString(), 7, 0))->has_value());
  auto second = store.SweepOrphanChunks(suspects);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GE(*second, 2u);  // Other tests' leftovers may go too.
  EXPECT_FALSE(engine_->Get(keys::Chunk(mac.ToString(), 7, 0))->has_value());
  auto restored = store.Restore(mac, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->archive == archive);
}

}  // namespace
}  // namespace midwife::statestore
