#include "statestore/backup_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/sha256.h"
#include "tests/statestore/memory_storage_engine.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using ::testing::HasSubstr;
using testing::MemoryStorageEngine;

MacAddress Mac(const char* text) { return *MacAddress::Parse(text); }

v1::BackupHeader Header(std::optional<uint64_t> expected = std::nullopt) {
  v1::BackupHeader h;
  if (expected) h.set_expected_version(*expected);
  return h;
}

std::string Archive(int n) { return MakeEsxiStateTgz({{"etc/hosts", std::to_string(n) + "\n"}}); }

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

}  // namespace
}  // namespace midwife::statestore
