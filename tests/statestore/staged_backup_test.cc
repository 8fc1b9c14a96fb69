// BackupStore's staged path (archives larger than one commit of the engine,
// as on etcd) over the in-memory engine with etcd's limits: what happens when
// other commits land between the staged writer's claim and its final commit.
#include <gtest/gtest.h>

#include <random>

#include "core/sha256.h"
#include "proto/statestore_records.pb.h"
#include "statestore/backup_store.h"
#include "statestore/etcd_engine.h"
#include "statestore/key_layout.h"
#include "statestore/sealed_blob.h"
#include "statestore/state_keys.h"
#include "tests/statestore/memory_storage_engine.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using testing::MemoryStorageEngine;

// Four chunks, the last half full: too large to share a commit with another.
constexpr size_t kLarge = (3 << 20) + (1 << 19);

std::string RandomArchive(size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string payload(bytes, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  return MakeEsxiStateTgz({{"etc/payload", payload}});
}

class StagedBackupTest : public ::testing::Test {
 protected:
  StagedBackupTest() {
    engine_.limits = {kEtcdDefaultMaxRequestBytes - (64 << 10), kEtcdDefaultMaxTxnOps};
  }
  // Runs `action` just before the `n`-th commit from now (1: the next).
  void BeforeCommit(int n, std::function<void()> action) {
    if (n <= 1) {
      engine_.before_commit = std::move(action);
      return;
    }
    engine_.before_commit = [this, n, action = std::move(action)] { BeforeCommit(n - 1, action); };
  }
  size_t ChunkKeys(const std::string& mac) {
    return engine_.ScanKeys("d/" + mac + "/", "", 0)->size();
  }

  MemoryStorageEngine engine_;
  BackupStore store_{engine_, {}};
  const MacAddress mac_ = *MacAddress::Parse("02:00:00:00:5a:01");
};

TEST_F(StagedBackupTest, LargeArchiveGoesInCommitsTheEngineAccepts) {
  const std::string archive = RandomArchive(kLarge, 1);
  auto stored = store_.Backup(mac_, {}, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  // Claim, four 1 MiB chunks one commit each, final commit.
  EXPECT_EQ(engine_.commits, 6u);
  auto restored = store_.Restore(mac_, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->archive == archive);
}

// With a state key, the chunks a staged write spreads over several commits
// are the sealed bytes, bound to the version the writer claimed.
TEST_F(StagedBackupTest, SealedLargeArchiveIsStagedSealedAndRestoresByteExact) {
  BackupStoreOptions options;
  auto ring = StateKeyRing::FromKeys(std::string(kSealKeyBytes, 'K'), {});
  ASSERT_TRUE(ring.ok()) << ring.status();
  options.keys = *std::move(ring);
  BackupStore sealed(engine_, std::move(options));
  const std::string archive = RandomArchive(kLarge, 7);
  auto stored = sealed.Backup(mac_, {}, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_GE(engine_.commits, 6u);  // staged: claim, chunks, final commit
  auto record = engine_.Get(keys::Version(mac_.ToString(), 1));
  ASSERT_TRUE(record.ok() && record->has_value());
  records::v1::StoredVersion version;
  ASSERT_TRUE(version.ParseFromString(**record));
  EXPECT_EQ(version.sealing(), records::v1::SEALING_AES_256_GCM);
  // No chunk holds the archive's own bytes.
  auto first_chunk = engine_.Get(keys::Chunk(mac_.ToString(), 1, 0));
  ASSERT_TRUE(first_chunk.ok() && first_chunk->has_value());
  EXPECT_EQ((*first_chunk)->find(archive.substr(0, 64)), std::string::npos);
  auto restored = sealed.Restore(mac_, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->archive == archive);
}

TEST_F(StagedBackupTest, PinLandingBeforeTheFinalCommitIsRebasedOver) {
  ASSERT_TRUE(store_.Backup(mac_, {}, RandomArchive(100, 1)).ok());
  const std::string archive = RandomArchive(kLarge, 2);
  // Claim (1), chunks (2-5): the pin lands before the final commit (6).
  BeforeCommit(6, [&] { ASSERT_TRUE(store_.Pin(mac_, 1, true).ok()); });
  auto stored = store_.Backup(mac_, {}, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version.version(), 2u);
  auto versions = store_.ListVersions(mac_);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_TRUE((*versions)[1].pinned());  // The pin survived the rebase.
  EXPECT_TRUE(store_.Restore(mac_, 2)->archive == archive);
}

TEST_F(StagedBackupTest, NewerVersionCommittedMeanwhileRestartsTheWriterAndLeavesNoOrphans) {
  const std::string archive = RandomArchive(kLarge, 3);
  const std::string other = RandomArchive(100, 4);
  BeforeCommit(6, [&] { ASSERT_TRUE(store_.Backup(mac_, {}, other).ok()); });
  auto stored = store_.Backup(mac_, {}, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  // Version 1 was claimed by the staged writer; the other backup took 2, so
  // the staged writer gave 1 up and stored as 3.
  EXPECT_EQ(stored->version.version(), 3u);
  EXPECT_TRUE(store_.Restore(mac_, 2)->archive == other);
  EXPECT_TRUE(store_.Restore(mac_, 3)->archive == archive);
  // Only version 3's four chunks and version 2's one remain.
  EXPECT_EQ(ChunkKeys(mac_.ToString()), 5u);
}

TEST_F(StagedBackupTest, ExpectedVersionRaceIsAbortedAndLeavesNoOrphans) {
  ASSERT_TRUE(store_.Backup(mac_, {}, RandomArchive(100, 5)).ok());
  v1::BackupHeader header;
  header.set_expected_version(1);
  BeforeCommit(6, [&] { ASSERT_TRUE(store_.Backup(mac_, {}, RandomArchive(100, 6)).ok()); });
  auto stored = store_.Backup(mac_, header, RandomArchive(kLarge, 7));
  EXPECT_TRUE(absl::IsAborted(stored.status())) << stored.status();
  EXPECT_EQ(store_.Stat(mac_)->version(), 3u);  // The racer's (2 was claimed).
  EXPECT_EQ(ChunkKeys(mac_.ToString()), 2u);    // Versions 1 and 3, one chunk each.
}

TEST_F(StagedBackupTest, ChunkSweptBeforeTheFinalCommitMakesTheWriterStartOver) {
  const std::string archive = RandomArchive(kLarge, 8);
  BeforeCommit(6, [&] {
    WriteBatch sweep;
    sweep.deletes = {keys::Chunk(mac_.ToString(), 1, 2)};
    ASSERT_TRUE(engine_.Commit({}, sweep).ok());
  });
  auto stored = store_.Backup(mac_, {}, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version.version(), 2u);
  EXPECT_TRUE(store_.Restore(mac_, 0)->archive == archive);
  EXPECT_EQ(ChunkKeys(mac_.ToString()), 4u);
}

TEST_F(StagedBackupTest, ClaimOfAWriterThatDiedIsSweptAtTheSecondSweepIfUnchanged) {
  // A writer claimed version 1 of two new hosts and died.
  const MacAddress other = *MacAddress::Parse("02:00:00:00:5a:02");
  for (const MacAddress& m : {mac_, other}) {
    records::v1::HostHead claimed;
    claimed.set_next_version(2);
    WriteBatch claim;
    claim.puts = {{keys::Head(m.ToString()), claimed.SerializeAsString()}};
    ASSERT_TRUE(engine_.Commit({}, claim).ok());
  }
  std::set<std::string> suspects;
  ASSERT_TRUE(store_.SweepOrphanChunks(suspects).ok());
  EXPECT_EQ(store_.ListHosts(0, "")->hosts.size(), 2u);
  // One of them changes between the sweeps: a live writer's claim.
  records::v1::HostHead reclaimed;
  reclaimed.set_next_version(3);
  WriteBatch again;
  again.puts = {{keys::Head(other.ToString()), reclaimed.SerializeAsString()}};
  ASSERT_TRUE(engine_.Commit({}, again).ok());
  ASSERT_TRUE(store_.SweepOrphanChunks(suspects).ok());
  auto hosts = store_.ListHosts(0, "");
  ASSERT_EQ(hosts->hosts.size(), 1u);
  EXPECT_EQ(hosts->hosts[0].mac(), other.ToString());
}

}  // namespace
}  // namespace midwife::statestore
