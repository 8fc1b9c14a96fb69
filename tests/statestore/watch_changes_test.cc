// WatchChanges: the ChangeHub's mapping of keys to changes, and a real
// `statestore serve` (RocksDB) streaming the changes its own calls make.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "absl/strings/str_format.h"
#include "core/sha256.h"
#include "proto/statestore_records.pb.h"
#include "statestore/change_hub.h"
#include "tests/statestore/change_watcher.h"
#include "tests/statestore/memory_storage_engine.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::TempDir;
using testing::ChangeWatcher;
using testing::StateStoreServer;

TEST(ChangeHubTest, KeysBecomeTheChangesWatchersNeed) {
  records::v1::HostHead head;
  head.add_versions(3);
  head.add_versions(7);
  head.set_newest_sha256("abc");
  auto backup = ChangeHub::ToChange("h/02:00:00:00:00:01", head.SerializeAsString());
  ASSERT_TRUE(backup.has_value());
  EXPECT_EQ(backup->kind(), v1::Change::HEAD);
  EXPECT_EQ(backup->mac(), "02:00:00:00:00:01");
  EXPECT_EQ(backup->newest_version(), 7u);
  EXPECT_EQ(backup->newest_sha256(), "abc");

  auto deleted = ChangeHub::ToChange("h/02:00:00:00:00:01", std::nullopt);
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->kind(), v1::Change::HOST_DELETED);

  auto record = ChangeHub::ToChange("r/02:00:00:00:00:02", "x");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind(), v1::Change::HOST_RECORD);
  EXPECT_EQ(record->mac(), "02:00:00:00:00:02");

  EXPECT_TRUE(record->host_record().empty()) << "an entry that does not parse goes without";

  EXPECT_EQ(ChangeHub::ToChange("rules", "x")->kind(), v1::Change::RULES);
  EXPECT_FALSE(ChangeHub::ToChange("meta/format", "1").has_value());
  EXPECT_FALSE(ChangeHub::ToChange("v/02:00:00:00:00:01/00000000000000000001", "x").has_value());
  EXPECT_FALSE(ChangeHub::ToChange("h/02:00:00:00:00:01", "not a proto\xff").has_value());
}

// A record change carries the record, trimmed to what a watcher checks
// against a decision made at its last boot; an alias's pointer carries none.
TEST(ChangeHubTest, RecordChangeCarriesTheRecordSinceItsLastBoot) {
  records::v1::HostEntry entry;
  v1::HostRecord& host = *entry.mutable_host();
  host.set_mac("02:00:00:00:00:02");
  host.set_revision(7);
  host.set_last_boot_id("boot-7");
  host.set_last_seen_unix_ms(5000);
  host.mutable_last_decision()->set_image("esxi@1");
  host.mutable_active()->set_image("esxi@1");
  for (int64_t at : {4000, 5000, 6000}) {
    v1::HostEvent& e = *host.add_events();
    e.set_unix_ms(at);
    e.set_kind(at == 6000 ? v1::HOST_EVENT_KIND_PUBLISHED : v1::HOST_EVENT_KIND_BOOT);
  }
  auto change = ChangeHub::ToChange("r/02:00:00:00:00:02", entry.SerializeAsString());
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->kind(), v1::Change::HOST_RECORD);
  v1::HostRecord carried;
  ASSERT_TRUE(carried.ParseFromString(change->host_record()));
  EXPECT_EQ(carried.revision(), 7u);
  EXPECT_EQ(carried.last_boot_id(), "boot-7");
  EXPECT_EQ(carried.active().image(), "esxi@1");
  EXPECT_FALSE(carried.has_last_decision());
  ASSERT_EQ(carried.events_size(), 1);
  EXPECT_EQ(carried.events(0).kind(), v1::HOST_EVENT_KIND_PUBLISHED);

  records::v1::HostEntry alias;
  alias.set_alias_of("02:00:00:00:00:02");
  auto pointer = ChangeHub::ToChange("r/02:00:00:00:00:03", alias.SerializeAsString());
  ASSERT_TRUE(pointer.has_value());
  EXPECT_EQ(pointer->kind(), v1::Change::HOST_RECORD);
  EXPECT_TRUE(pointer->host_record().empty());
}

TEST(ChangeHubTest, EngineWithoutAFeedGivesWatchersTheirFirstResyncOnly) {
  testing::MemoryStorageEngine engine;
  ChangeHub hub(engine);
  auto watcher = hub.Watch();
  auto first = watcher->Next(std::chrono::milliseconds(100));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->kind(), v1::Change::RESYNC);
  EXPECT_FALSE(watcher->Next(std::chrono::milliseconds(50)).has_value());
}

TEST(WatchChangesTest, RocksDbFrontendStreamsBackupsAndDeletes) {
  TempDir tmp;
  StateStoreServer server(tmp.File("data"));
  ASSERT_TRUE(server.Start()) << server.log();
  auto admin = server.AdminClient();
  auto watch_client = server.AdminClient();
  ChangeWatcher watcher(*watch_client);
  ASSERT_TRUE(watcher.WaitFor([](const v1::Change& c) { return c.kind() == v1::Change::RESYNC; }));

  const std::string archive = MakeEsxiStateTgz({{"etc/hosts", "watched\n"}});
  auto stored = admin->Backup("02:00:00:00:00:31", archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(watcher.WaitFor([&](const v1::Change& c) {
    return c.kind() == v1::Change::HEAD && c.mac() == "02:00:00:00:00:31" &&
           c.newest_version() == stored->version().version() &&
           c.newest_sha256() == Sha256Hex(archive);
  }));
  ASSERT_TRUE(admin->DeleteHost("02:00:00:00:00:31").ok());
  EXPECT_TRUE(watcher.WaitFor([](const v1::Change& c) {
    return c.kind() == v1::Change::HOST_DELETED && c.mac() == "02:00:00:00:00:31";
  }));
}

TEST(WatchChangesTest, OpenWatchDoesNotHoldUpShutdown) {
  TempDir tmp;
  StateStoreServer server(tmp.File("data"));
  ASSERT_TRUE(server.Start()) << server.log();
  auto watch_client = server.AdminClient();
  ChangeWatcher watcher(*watch_client);
  ASSERT_TRUE(watcher.WaitFor([](const v1::Change& c) { return c.kind() == v1::Change::RESYNC; }));
  const auto start = std::chrono::steady_clock::now();
  const int status = server.Terminate();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.log();
  // The drain allows 10 s and a watch left open would use it all up (its
  // handler would notice only the final cancellation). gRPC's own shutdown
  // of a finished stream was seen to take up to 5 s on this machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9)) << server.log();
}

TEST(WatchChangesTest, HostTokenCannotWatch) {
  TempDir tmp;
  StateStoreServer server(tmp.File("data"));
  ASSERT_TRUE(server.Start()) << server.log();
  auto token = server.AdminClient()->IssueHostToken("02:00:00:00:00:32");
  ASSERT_TRUE(token.ok());
  auto host = server.ClientWithToken(*token);
  absl::Status st = host->WatchChanges([](const v1::Change&) { return true; });
  EXPECT_TRUE(absl::IsPermissionDenied(st) || absl::IsUnauthenticated(st)) << st;
}

}  // namespace
}  // namespace midwife::statestore
