#include "statestore/backup_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/sha256.h"
#include "proto/statestore_records.pb.h"
#include "statestore/key_layout.h"
#include "statestore/sealed_blob.h"
#include "tests/statestore/memory_storage_engine.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEncryptedEsxiStateTgz;
using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::TarBuilder;
using ::testing::HasSubstr;
using testing::MemoryStorageEngine;

MacAddress Mac(const char* text) { return *MacAddress::Parse(text); }

v1::BackupHeader Header(std::optional<uint64_t> expected = std::nullopt) {
  v1::BackupHeader h;
  if (expected) h.set_expected_version(*expected);
  return h;
}

std::string Archive(int n) { return MakeEsxiStateTgz({{"etc/hosts", std::to_string(n) + "\n"}}); }

// A tarball whose bytes hold `marker` verbatim (gzip level 0).
std::string ArchiveShowing(const std::string& marker) {
  TarBuilder b(TarBuilder::Compression::kGzipStored);
  b.File("etc/shadow", marker + "\n" + marker + "\n");
  return b.Finish();
}

StateKeyRing Ring(std::optional<char> current, std::vector<char> old = {}) {
  std::vector<std::string> old_keys;
  for (char c : old) old_keys.emplace_back(kSealKeyBytes, c);
  auto ring = StateKeyRing::FromKeys(
      current ? std::optional<std::string>(std::string(kSealKeyBytes, *current)) : std::nullopt,
      old_keys);
  EXPECT_TRUE(ring.ok()) << ring.status();
  return *ring;
}

records::v1::StoredVersion Record(MemoryStorageEngine& engine, const std::string& mac, uint64_t v) {
  records::v1::StoredVersion stored;
  EXPECT_TRUE(stored.ParseFromString(engine.data().at(keys::Version(mac, v))));
  return stored;
}

bool AnyChunkHolds(MemoryStorageEngine& engine, const std::string& needle) {
  for (const auto& [key, value] : engine.data()) {
    if (key.rfind("d/", 0) == 0 && value.find(needle) != std::string::npos) return true;
  }
  return false;
}

class BackupStoreTest : public ::testing::Test {
 protected:
  BackupStoreOptions Options(uint32_t keep) {
    BackupStoreOptions o;
    o.keep_newest = keep;
    o.now_unix_ms = [this] { return ++now_; };
    return o;
  }
  MemoryStorageEngine engine_;
  int64_t now_ = 1'000;
};

TEST_F(BackupStoreTest, VersionsGrowAndCarryDigestSizeAndTime) {
  BackupStore store(engine_, Options(10));
  for (int i = 1; i <= 3; ++i) {
    auto r = store.Backup(Mac("02:00:00:00:00:01"), Header(), Archive(i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version.version(), static_cast<uint64_t>(i));
    EXPECT_EQ(r->version.sha256(), Sha256Hex(Archive(i)));
    EXPECT_EQ(r->version.size(), Archive(i).size());
    EXPECT_EQ(r->version.created_unix_ms(), 1'000 + i);
  }
}

TEST_F(BackupStoreTest, RetentionPrunesInTheSameCommitAndSparesPinned) {
  BackupStore store(engine_, Options(2));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(1)).ok());
  ASSERT_TRUE(store.Pin(mac, 1, true).ok());
  for (int i = 2; i <= 5; ++i) ASSERT_TRUE(store.Backup(mac, Header(), Archive(i)).ok());
  auto versions = store.ListVersions(mac);
  ASSERT_TRUE(versions.ok());
  std::vector<uint64_t> numbers;
  for (const auto& v : *versions) numbers.push_back(v.version());
  EXPECT_THAT(numbers, ::testing::ElementsAre(5, 4, 1));
  EXPECT_TRUE((*versions)[2].pinned());
  // One commit per backup plus the pin: pruning never took a commit of its own.
  EXPECT_EQ(engine_.commits, 6u);
  // Nothing of the pruned versions is left behind.
  for (const auto& [key, value] : engine_.data()) {
    EXPECT_THAT(key, ::testing::Not(HasSubstr("/00000000000000000002"))) << key;
  }
}

TEST_F(BackupStoreTest, ExpectedVersionMismatchStoresNothing) {
  BackupStore store(engine_, Options(10));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(store.Backup(mac, Header(0), Archive(1)).ok());
  auto stale = store.Backup(mac, Header(0), Archive(2));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(stale.status().message()), HasSubstr("expected 0"));
  auto right = store.Backup(mac, Header(1), Archive(2));
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ(right->version.version(), 2u);
}

TEST_F(BackupStoreTest, ConcurrentWriterBetweenReadAndCommitIsRetriedWithoutExpectedVersion) {
  BackupStore store(engine_, Options(10));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  engine_.before_commit = [&] { ASSERT_TRUE(store.Backup(mac, Header(), Archive(100)).ok()); };
  auto r = store.Backup(mac, Header(), Archive(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version.version(), 2u);
}

TEST_F(BackupStoreTest, ConcurrentWriterWithExpectedVersionHasExactlyOneWinner) {
  BackupStore store(engine_, Options(10));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  absl::StatusOr<BackupResult> inner = absl::UnknownError("not run");
  engine_.before_commit = [&] { inner = store.Backup(mac, Header(0), Archive(100)); };
  auto outer = store.Backup(mac, Header(0), Archive(1));
  EXPECT_TRUE(inner.ok());
  EXPECT_EQ(outer.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store.ListVersions(mac)->size(), 1u);
}

TEST_F(BackupStoreTest, CorruptedBytesAreDataLossNeverServed) {
  BackupStore store(engine_, Options(10));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(1)).ok());
  for (auto& [key, value] : engine_.data()) {
    if (key.rfind("d/", 0) == 0) value[value.size() / 2] ^= 0x01;
  }
  auto r = store.Restore(mac, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("SHA-256"));
}

TEST_F(BackupStoreTest, FullDiskIsReportedAndNothingIsStored) {
  BackupStore store(engine_, Options(10));
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(1)).ok());
  engine_.fail_commits_with = absl::ResourceExhaustedError("disk full");
  EXPECT_EQ(store.Backup(mac, Header(), Archive(2)).status().code(),
            absl::StatusCode::kResourceExhausted);
  engine_.fail_commits_with = absl::OkStatus();
  EXPECT_EQ(store.Restore(mac, 0)->archive, Archive(1));
}

TEST_F(BackupStoreTest, LargeArchivesAreChunkedAndReassembled) {
  BackupStore store(engine_, Options(10));
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>(i * 31);
  const std::string archive = MakeEsxiStateTgz({{"etc/big", big}});
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:01"), Header(), archive).ok());
  EXPECT_EQ(store.Restore(Mac("02:00:00:00:00:01"), 0)->archive, archive);
}

TEST_F(BackupStoreTest, ListHostsPagesInMacOrder) {
  BackupStore store(engine_, Options(10));
  for (int i = 5; i >= 1; --i) {
    std::string mac = "02:00:00:00:00:0" + std::to_string(i);
    ASSERT_TRUE(store.Backup(Mac(mac.c_str()), Header(), Archive(i)).ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store.ListHosts(2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& h : page->hosts) seen.push_back(h.mac());
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ::testing::ElementsAre("02:00:00:00:00:01", "02:00:00:00:00:02",
                                           "02:00:00:00:00:03", "02:00:00:00:00:04",
                                           "02:00:00:00:00:05"));
}

TEST_F(BackupStoreTest, DeleteRemovesEveryKeyOfTheHostOnly) {
  BackupStore store(engine_, Options(10));
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:01"), Header(), Archive(1)).ok());
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:01"), Header(), Archive(2)).ok());
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:02"), Header(), Archive(3)).ok());
  auto deleted = store.DeleteHost(Mac("02:00:00:00:00:01"));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2u);
  for (const auto& [key, value] : engine_.data()) {
    EXPECT_THAT(key, ::testing::Not(HasSubstr("02:00:00:00:00:01"))) << key;
  }
  EXPECT_TRUE(store.Restore(Mac("02:00:00:00:00:02"), 0).ok());
  EXPECT_EQ(store.Stat(Mac("02:00:00:00:00:01")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BackupStoreTest, IdenticalBackupIsAnsweredWithoutValidatingAgain) {
  const MacAddress mac = Mac("02:00:00:00:00:01");
  const std::string archive = MakeEsxiStateTgz({{"etc/a", "1"}, {"etc/b", "2"}});
  BackupStore lenient(engine_, Options(10));
  ASSERT_TRUE(lenient.Backup(mac, Header(), archive).ok());
  // A store whose limits this archive breaks still answers the unchanged upload
  // (nothing new to check) but refuses any other bytes.
  BackupStoreOptions strict_options = Options(10);
  strict_options.archive_limits.max_entries = 1;
  BackupStore strict(engine_, strict_options);
  auto again = strict.Backup(mac, Header(), archive);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(strict.Backup(mac, Header(), MakeEsxiStateTgz({{"etc/a", "1"}, {"etc/b", "3"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BackupStoreTest, RefusesBadArchiveNamingTheReason) {
  BackupStore store(engine_, Options(10));
  auto r = store.Backup(Mac("02:00:00:00:00:01"), Header(), "not gzip at all");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(engine_.data().empty());
}

TEST_F(BackupStoreTest, WithAKeyChunksHoldNoPlaintextAndRestoreIsByteExact) {
  const std::string marker = "root:$6$MARKER-shadow-hash-4f1c9a";
  const std::string archive = ArchiveShowing(marker);
  const MacAddress mac = Mac("02:00:00:00:00:01");
  {
    // The control: without a key the marker is there to be found.
    MemoryStorageEngine plain_engine;
    BackupStore plain(plain_engine, Options(10));
    ASSERT_TRUE(plain.Backup(mac, Header(), archive).ok());
    ASSERT_TRUE(AnyChunkHolds(plain_engine, marker));
    EXPECT_EQ(Record(plain_engine, mac.ToString(), 1).sealing(), records::v1::SEALING_NONE);
  }
  BackupStoreOptions options = Options(10);
  options.keys = Ring('A');
  BackupStore store(engine_, options);
  auto stored = store.Backup(mac, Header(), archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version.sha256(), Sha256Hex(archive));  // Of the plaintext: dedup and checks.
  EXPECT_FALSE(AnyChunkHolds(engine_, marker));
  const auto record = Record(engine_, mac.ToString(), 1);
  EXPECT_EQ(record.sealing(), records::v1::SEALING_AES_256_GCM);
  EXPECT_EQ(record.key_id(), SealKeyId(std::string(kSealKeyBytes, 'A')));
  EXPECT_EQ(record.stored_bytes(), archive.size() + kSealOverheadBytes);
  auto restored = store.Restore(mac, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->archive, archive);
  // Unchanged uploads are still recognised through the plaintext digest.
  auto again = store.Backup(mac, Header(), archive);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
}

TEST_F(BackupStoreTest, EsxiEncryptedStateIsSealedToo) {
  // local.tgz.ve is encrypted by the host, but on a host without a TPM the
  // key to it travels in encryption.info beside it: it is sealed like any other.
  BackupStoreOptions options = Options(10);
  options.keys = Ring('A');
  BackupStore store(engine_, options);
  const std::string archive = MakeEncryptedEsxiStateTgz();
  const MacAddress mac = Mac("02:00:00:00:00:01");
  auto stored = store.Backup(mac, Header(), archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version.kind(), v1::BACKUP_KIND_ESXI_STATE);
  EXPECT_EQ(Record(engine_, mac.ToString(), 1).sealing(), records::v1::SEALING_AES_256_GCM);
  EXPECT_EQ(store.Restore(mac, 0)->archive, archive);
}

TEST_F(BackupStoreTest, PlaintextVersionsStayReadableOnceAKeyIsGiven) {
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(BackupStore(engine_, Options(10)).Backup(mac, Header(), Archive(1)).ok());
  BackupStoreOptions options = Options(10);
  options.keys = Ring('A');
  BackupStore store(engine_, options);
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(2)).ok());
  EXPECT_EQ(Record(engine_, mac.ToString(), 1).sealing(), records::v1::SEALING_NONE);
  EXPECT_EQ(Record(engine_, mac.ToString(), 2).sealing(), records::v1::SEALING_AES_256_GCM);
  EXPECT_EQ(store.Restore(mac, 1)->archive, Archive(1));
  EXPECT_EQ(store.Restore(mac, 2)->archive, Archive(2));
}

TEST_F(BackupStoreTest, VersionUnderAnUnknownKeyIsRefusedNamingTheKey) {
  const MacAddress mac = Mac("02:00:00:00:00:01");
  BackupStoreOptions a = Options(10);
  a.keys = Ring('A');
  ASSERT_TRUE(BackupStore(engine_, a).Backup(mac, Header(), Archive(1)).ok());
  for (std::optional<char> current : {std::optional<char>('B'), std::optional<char>()}) {
    BackupStoreOptions b = Options(10);
    b.keys = Ring(current);
    auto r = BackupStore(engine_, b).Restore(mac, 0);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr(KeyIdHex(SealKeyId(std::string(kSealKeyBytes, 'A')))));
  }
}

TEST_F(BackupStoreTest, SealedBytesMovedToAnotherHostOrVersionAreDataLoss) {
  BackupStoreOptions options = Options(10);
  options.keys = Ring('A');
  BackupStore store(engine_, options);
  const std::string a = "02:00:00:00:00:0a", b = "02:00:00:00:00:0b";
  ASSERT_TRUE(store.Backup(Mac(a.c_str()), Header(), Archive(1)).ok());
  ASSERT_TRUE(store.Backup(Mac(b.c_str()), Header(), Archive(2)).ok());
  ASSERT_TRUE(store.Backup(Mac(b.c_str()), Header(), Archive(3)).ok());
  // Host b's version 1 record and chunks replaced by host a's: same key, but
  // the associated data names a's MAC.
  engine_.data()[keys::Version(b, 1)] = engine_.data()[keys::Version(a, 1)];
  engine_.data()[keys::Chunk(b, 1, 0)] = engine_.data()[keys::Chunk(a, 1, 0)];
  auto moved_host = store.Restore(Mac(b.c_str()), 1);
  EXPECT_EQ(moved_host.status().code(), absl::StatusCode::kDataLoss) << moved_host.status();
  EXPECT_THAT(std::string(moved_host.status().message()), HasSubstr("not served"));
  // Host b's version 2 bytes put under its version 3.
  auto v2 = Record(engine_, b, 2);
  v2.mutable_info()->set_version(3);
  engine_.data()[keys::Version(b, 3)] = v2.SerializeAsString();
  engine_.data()[keys::Chunk(b, 3, 0)] = engine_.data()[keys::Chunk(b, 2, 0)];
  EXPECT_EQ(store.Restore(Mac(b.c_str()), 3).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store.Restore(Mac(b.c_str()), 2).ok());
}

TEST_F(BackupStoreTest, FlippedByteInASealedChunkIsDataLossNeverServed) {
  BackupStoreOptions options = Options(10);
  options.keys = Ring('A');
  BackupStore store(engine_, options);
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(1)).ok());
  engine_.data()[keys::Chunk(mac.ToString(), 1, 0)][40] ^= 0x01;
  auto r = store.Restore(mac, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("authentication"));
}

TEST_F(BackupStoreTest, RekeyResealsPlaintextAndOldKeyVersionsUnderTheCurrentKey) {
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(BackupStore(engine_, Options(10)).Backup(mac, Header(), Archive(1)).ok());
  BackupStoreOptions a = Options(10);
  a.keys = Ring('A');
  ASSERT_TRUE(BackupStore(engine_, a).Backup(mac, Header(), Archive(2)).ok());
  BackupStoreOptions b = Options(10);
  b.keys = Ring('B', {'A'});
  BackupStore store(engine_, b);
  ASSERT_TRUE(store.Backup(mac, Header(), Archive(3)).ok());
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:02"), Header(), Archive(4)).ok());

  auto report = store.Rekey();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->hosts, 2u);
  EXPECT_EQ(report->versions, 4u);
  EXPECT_EQ(report->resealed, 2u);
  const std::string key_b = SealKeyId(std::string(kSealKeyBytes, 'B'));
  for (uint64_t v = 1; v <= 3; ++v) {
    EXPECT_EQ(Record(engine_, mac.ToString(), v).key_id(), key_b) << v;
  }
  // Only B is needed now, and every version restores.
  BackupStoreOptions only_b = Options(10);
  only_b.keys = Ring('B');
  BackupStore after(engine_, only_b);
  for (int v = 1; v <= 3; ++v) EXPECT_EQ(after.Restore(mac, v)->archive, Archive(v)) << v;
  // A second run has nothing left to do.
  EXPECT_EQ(after.Rekey()->resealed, 0u);
}

TEST_F(BackupStoreTest, CountsVersionsByHowTheyAreKeptAtRest) {
  const MacAddress mac = Mac("02:00:00:00:00:01");
  ASSERT_TRUE(BackupStore(engine_, Options(10)).Backup(mac, Header(), Archive(1)).ok());
  BackupStoreOptions a = Options(10);
  a.keys = Ring('A');
  ASSERT_TRUE(BackupStore(engine_, a).Backup(mac, Header(), Archive(2)).ok());
  ASSERT_TRUE(BackupStore(engine_, a).Backup(mac, Header(), Archive(3)).ok());
  BackupStoreOptions c = Options(10);
  c.keys = Ring('C');
  ASSERT_TRUE(BackupStore(engine_, c).Backup(mac, Header(), Archive(4)).ok());
  BackupStoreOptions b = Options(10);
  b.keys = Ring('B', {'A'});
  BackupStore store(engine_, b);
  ASSERT_TRUE(store.Backup(Mac("02:00:00:00:00:02"), Header(), Archive(5)).ok());
  auto counts = store.CountAtRest();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->plaintext, 1u);
  EXPECT_EQ(counts->current_key, 1u);
  EXPECT_EQ(counts->old_keys, 2u);
  EXPECT_EQ(counts->unknown_keys, 1u);
}

TEST_F(BackupStoreTest, RekeyWithoutACurrentKeyIsRefused) {
  BackupStore store(engine_, Options(10));
  EXPECT_EQ(store.Rekey().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace midwife::statestore
