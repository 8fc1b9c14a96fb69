// BootService's side of the store's change feed, driven by hand: a real state
// store and a BootService in this process, with the changes a follower would
// pass on built here, so that the order of answers and changes (the races
// the follower meets) is the test's to choose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "absl/strings/str_cat.h"
#include "bootserver/boot/boot_service.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "imagebuilder/image_repository.h"
#include "statestore/host_registry_client.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

namespace v1 = ::midwife::statestore::v1;
using ::midwife::statestore::testing::StateStoreServer;
using ::midwife::testing::BinaryPath;
using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kMac[] = "00:50:56:aa:dd:01";
constexpr char kMacDashed[] = "00-50-56-aa-dd-01";
constexpr char kAddress[] = "192.0.2.10";

// One boot server's BootService with its own store clients.
struct BootServer {
  std::unique_ptr<statestore::StateStoreClient> store;
  std::unique_ptr<statestore::HostRegistryClient> registry;
  std::unique_ptr<BootService> service;

  HttpResponse Get(const std::string& path, std::map<std::string, std::string> query = {}) {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    request.query = std::move(query);
    request.remote_address = kAddress;
    return service->HandleHttp(request);
  }
  // A boot's first request, as iPXE makes it: BeginBoot.
  HttpResponse Script() {
    return Get(absl::StrCat("/boot/", kMacDashed, "/boot.ipxe"),
               {{"platform", "pcbios"}, {"manufacturer", "VMware"}});
  }
  HttpResponse State() { return Get(absl::StrCat("/boot/", kMacDashed, "/state.tgz")); }
  HttpResponse Upload(const std::string& token, const std::string& archive) {
    HttpRequest request;
    request.method = "POST";
    request.path = absl::StrCat("/hosts/", kMacDashed, "/state");
    request.headers["authorization"] = "Bearer " + token;
    request.body = archive;
    request.remote_address = kAddress;
    return service->HandleHttp(request);
  }
  // One series of /metrics ("name" or "name{labels}"); 0 when absent.
  double Metric(const std::string& series) {
    const std::string metrics = "\n" + Get("/metrics").body;
    const std::string prefix = "\n" + series + " ";
    size_t at = metrics.find(prefix);
    return at == std::string::npos ? 0 : std::stod(metrics.substr(at + prefix.size()));
  }
};

class BootServiceStoreChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = tmp_.File("media");
    std::filesystem::create_directories(dir);
    const std::vector<std::pair<std::string, std::string>> files = {
        {"boot.cfg",
         "bootstate=0\ntitle=Test\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/s.v00\n"
         "build=8.0.1\n"},
        {"b.b00", "kernel"},
        {"s.v00", "module"}};
    for (const auto& [name, bytes] : files)
      ASSERT_TRUE(WriteFileAtomically(dir + "/" + name, bytes).ok());
    auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", "esxi", "--version",
                         "1", "--repo", tmp_.File("repo")});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    auto repo = imagebuilder::ImageRepository::Open(tmp_.File("repo"));
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    ASSERT_TRUE(store_.Start()) << store_.log();
    admin_ = store_.AdminClient();
    auto registry = statestore::HostRegistryClient::Connect(store_.AdminClientOptions());
    ASSERT_TRUE(registry.ok());
    admin_registry_ = *std::move(registry);
    ASSERT_TRUE(admin_registry_->Assign(kMac, "esxi@1").ok());
    auto token = admin_->IssueHostToken(kMac);
    ASSERT_TRUE(token.ok());
    token_ = *token;
  }

  BootServer NewBootServer(std::function<void(const std::string&)> on_decision_answered = {}) {
    BootServer server;
    server.store = store_.AdminClient();
    auto registry = statestore::HostRegistryClient::Connect(store_.AdminClientOptions());
    EXPECT_TRUE(registry.ok());
    if (registry.ok()) server.registry = *std::move(registry);
    BootServiceOptions options;
    options.server_url = "http://192.0.2.1:8080";
    options.on_decision_answered = std::move(on_decision_answered);
    server.service =
        std::make_unique<BootService>(options, *repo_, *server.store, *server.registry);
    return server;
  }

  v1::HostRecord Record() {
    auto record = admin_registry_->GetHost(kMac);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : v1::HostRecord();
  }
  static v1::Change RecordChange(const v1::HostRecord& record) {
    v1::Change change;
    change.set_kind(v1::Change::HOST_RECORD);
    change.set_mac(record.mac());
    change.set_host_record(record.SerializeAsString());
    return change;
  }
  // The HEAD change for the host's newest backup as the store has it now.
  v1::Change HeadChange() {
    v1::Change change;
    change.set_kind(v1::Change::HEAD);
    change.set_mac(kMac);
    auto stat = admin_->Stat(kMac);
    EXPECT_TRUE(stat.ok()) << stat.status();
    if (stat.ok()) {
      change.set_newest_version(stat->version());
      change.set_newest_sha256(stat->sha256());
    }
    return change;
  }

  TempDir tmp_;
  std::unique_ptr<imagebuilder::ImageRepository> repo_;
  StateStoreServer store_{tmp_.File("data")};
  std::unique_ptr<statestore::StateStoreClient> admin_;
  std::unique_ptr<statestore::HostRegistryClient> admin_registry_;
  std::string token_;
};

// A record change carries the record: no read. One older than the decision
// (the feed behind this server's own BeginBoot: the host's previous boot,
// made through another boot server) leaves the decision as it is; a newer
// one from another boot marks it stale.
TEST_F(BootServiceStoreChangesTest, RecordOlderThanTheDecisionDoesNotMarkItStale) {
  BootServer server = NewBootServer();
  BootServer other = NewBootServer();
  ASSERT_THAT(other.Script().body, HasSubstr("esxi@1"));
  const v1::HostRecord booted_elsewhere = Record();
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  const v1::HostRecord booted_here = Record();
  ASSERT_GT(booted_here.revision(), booted_elsewhere.revision());

  BootService& service = *server.service;
  EXPECT_THAT(service.ApplyStoreChange(RecordChange(booted_elsewhere)), IsEmpty());
  EXPECT_EQ(server.Metric("midwife_store_change_records_total{result=\"older\"}"), 1);
  EXPECT_EQ(server.Metric("midwife_store_older_answers_total{what=\"record\"}"), 1);
  EXPECT_THAT(service.ApplyStoreChange(RecordChange(booted_here)), IsEmpty());
  EXPECT_EQ(server.Metric("midwife_store_change_records_total{result=\"ok\"}"), 1);
  // A read that raced the change is older too.
  EXPECT_EQ(service.CheckHostRecord(kMac, booted_elsewhere), BootService::RecordCheck::kOlder);
  EXPECT_EQ(service.CheckHostRecord(kMac, booted_here), BootService::RecordCheck::kCurrent);

  ASSERT_THAT(other.Script().body, HasSubstr("esxi@1"));
  EXPECT_THAT(service.ApplyStoreChange(RecordChange(Record())), IsEmpty());
  EXPECT_EQ(server.Metric("midwife_store_change_records_total{result=\"stale\"}"), 1);
  EXPECT_EQ(service.CheckHostRecord(kMac, booted_here), BootService::RecordCheck::kOlder);
}

// A change without the record (an alias's entry, a store from before
// Change.host_record) has the record read, as before.
TEST_F(BootServiceStoreChangesTest, RecordChangeWithoutTheRecordIsRead) {
  BootServer server = NewBootServer();
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  v1::Change change;
  change.set_kind(v1::Change::HOST_RECORD);
  change.set_mac(kMac);
  std::vector<StoreFollowUp> follow_ups = server.service->ApplyStoreChange(change);
  ASSERT_THAT(follow_ups, SizeIs(1));
  EXPECT_EQ(follow_ups[0].kind, StoreFollowUp::Kind::kCheckRecord);
  EXPECT_EQ(follow_ups[0].mac, kMac);
}

// The host uploads v2 through this server; the HEAD of v1 (the feed behind,
// or a Stat that raced the upload) then comes: it is older, and neither
// replaces the newest state nor has v1 fetched.
TEST_F(BootServiceStoreChangesTest, HeadOlderThanTheCachedOneIsNotApplied) {
  BootServer server = NewBootServer();
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "one\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "two\n"}});
  ASSERT_TRUE(admin_->Backup(kMac, v1).ok());
  const v1::Change head_of_v1 = HeadChange();
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  EXPECT_EQ(server.State().body, v1);
  ASSERT_EQ(server.Upload(token_, v2).status, 200);

  EXPECT_THAT(server.service->ApplyStoreChange(head_of_v1), IsEmpty());
  EXPECT_EQ(server.Metric("midwife_store_older_answers_total{what=\"head\"}"), 1);
  EXPECT_EQ(server.State().body, v2);
}

// A backup that commits while the host's BeginBoot is under way (an admin's
// copy or restore to the host as it powers on): its HEAD change comes before
// the decision, which names the head the store read before the backup. The
// boot serves the newer backup, as a boot asked a moment later would; the
// older one, sent along with the decision, is not served.
TEST_F(BootServiceStoreChangesTest, HeadThatCameWhileTheBootWasAskedIsNotUndoneByItsDecision) {
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "one\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "two\n"}});
  ASSERT_TRUE(admin_->Backup(kMac, v1).ok());
  BootService* service = nullptr;
  int answered = 0;
  BootServer server = NewBootServer([&](const std::string& mac) {
    if (++answered > 1) return;
    EXPECT_EQ(mac, kMac);
    EXPECT_TRUE(admin_->Backup(kMac, v2).ok());
    service->ApplyStoreChange(HeadChange());
  });
  service = server.service.get();
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  ASSERT_EQ(answered, 1);
  EXPECT_EQ(server.State().body, v2);
  EXPECT_EQ(server.Metric("midwife_store_older_answers_total{what=\"decision_head\"}"), 1);

  // The next boot's decision names v2 itself: nothing is kept from the race.
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  EXPECT_EQ(server.State().body, v2);
  EXPECT_EQ(server.Metric("midwife_store_older_answers_total{what=\"decision_head\"}"), 1);
}

// The host's own upload through this server is rendered from its bytes: its
// HEAD change needs no Restore here, nor does the state's next fetch; a
// boot server it did not go through fetches it.
TEST_F(BootServiceStoreChangesTest, OwnUploadNeedsNoRestoreButAnotherServerFetchesIt) {
  BootServer server = NewBootServer();
  BootServer other = NewBootServer();
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "one\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "two\n"}});
  ASSERT_TRUE(admin_->Backup(kMac, v1).ok());
  ASSERT_THAT(other.Script().body, HasSubstr("esxi@1"));
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  EXPECT_EQ(server.State().body, v1);
  ASSERT_EQ(server.Upload(token_, v2).status, 200);
  const v1::Change head_of_v2 = HeadChange();
  ASSERT_EQ(head_of_v2.newest_sha256(), Sha256Hex(v2));

  EXPECT_THAT(server.service->ApplyStoreChange(head_of_v2), IsEmpty());
  const double calls = server.Metric("midwife_store_calls_total");
  EXPECT_EQ(server.State().body, v2);
  EXPECT_EQ(server.Metric("midwife_store_calls_total"), calls);

  std::vector<StoreFollowUp> fetches = other.service->ApplyStoreChange(head_of_v2);
  ASSERT_THAT(fetches, SizeIs(1));
  EXPECT_EQ(fetches[0].kind, StoreFollowUp::Kind::kFetchState);
  EXPECT_EQ(fetches[0].sha256, Sha256Hex(v2));
}

// The birth report carries the boot's timeline: one round trip, where the
// report and a RecordEvent after it were two.
TEST_F(BootServiceStoreChangesTest, BirthReportWithTheBootsTimelineIsOneRoundTrip) {
  BootServer server = NewBootServer();
  ASSERT_THAT(server.Script().body, HasSubstr("esxi@1"));
  ASSERT_EQ(server.Get(absl::StrCat("/boot/", kMacDashed, "/boot.cfg")).status, 200);
  HttpRequest report;
  report.method = "POST";
  report.path = absl::StrCat("/hosts/", kMacDashed, "/report");
  report.headers["authorization"] = "Bearer " + token_;
  report.body = "status=ok&image=esxi@1";
  report.remote_address = kAddress;
  const double calls = server.Metric("midwife_store_calls_total");
  ASSERT_EQ(server.service->HandleHttp(report).status, 200);
  EXPECT_EQ(server.Metric("midwife_store_calls_total"), calls + 1);
  const v1::HostRecord record = Record();
  ASSERT_GE(record.events_size(), 1);
  EXPECT_EQ(record.events(record.events_size() - 1).kind(), v1::HOST_EVENT_KIND_PHASES);
  EXPECT_THAT(record.events(record.events_size() - 1).reason(), HasSubstr("bootcfg"));
}

}  // namespace
}  // namespace midwife::bootserver
