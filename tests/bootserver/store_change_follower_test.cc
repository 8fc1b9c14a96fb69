// Integration: a real boot server follows a real state store's change feed
// (RocksDB, and etcd with two frontends), so that when the store then goes
// away a host's boot falls back to caches that know what changed meanwhile
// through others: the newest backup, a deleted host, a new assignment.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "statestore/host_registry_client.h"
#include "tests/bootserver/test_bytes.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

using ::midwife::statestore::testing::EtcdCluster;
using ::midwife::statestore::testing::StateStoreServer;
using ::midwife::testing::BinaryPath;
using ::midwife::testing::ChildProcess;
using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMac[] = "00:50:56:aa:cc:01";
constexpr char kMacDashed[] = "00-50-56-aa-cc-01";
// Every wait for the boot server to have seen a change: generous, since it
// is polled and a pass takes milliseconds.
constexpr auto kChangeDeadline = std::chrono::seconds(20);

class StoreChangeFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* version : {"1", "2"}) {
      const std::string dir = tmp_.File(absl::StrCat("media", version));
      std::filesystem::create_directories(dir);
      const std::vector<std::pair<std::string, std::string>> files = {
          {"boot.cfg",
           absl::StrCat("bootstate=0\ntitle=Test ", version,
                        "\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- /s.v00\n"
                        "build=8.0.",
                        version, "\n")},
          {"b.b00", absl::StrCat("kernel ", version)},
          {"jumpstrt.gz", "jump"},
          {"s.v00", testing::SeededBytes(64 << 10, version[0])},
          {"mboot.efi", absl::StrCat("MZ mboot ", version)}};
      for (const auto& [name, bytes] : files)
        ASSERT_TRUE(WriteFileAtomically(dir + "/" + name, bytes).ok());
      auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", "esxi", "--version",
                           version, "--repo", tmp_.File("repo")});
      ASSERT_EQ(r.exit_code, 0) << r.out;
    }
  }

  // The boot server over the store at `store`, HTTP on a port of its choice.
  void StartBootServer(const StateStoreServer& store, std::vector<std::string> extra_flags = {}) {
    const std::string ready = tmp_.File("boot.ready");
    std::vector<std::string> argv = {BinaryPath("bootserver"),
                                     "serve",
                                     "--repo",
                                     tmp_.File("repo"),
                                     "--statestore",
                                     store.address(),
                                     "--statestore-token-file",
                                     tmp_.File("token"),
                                     "--http",
                                     "127.0.0.1:0",
                                     "--tftp",
                                     "",
                                     "--advertise",
                                     "127.0.0.1",
                                     "--ready-file",
                                     ready};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    ASSERT_TRUE(WriteFileAtomically(tmp_.File("token"), store.admin_token(), 0600).ok());
    boot_ = std::make_unique<ChildProcess>(argv, tmp_.File("boot.log"));
    const std::string line =
        midwife::testing::WaitForFile(ready, std::chrono::seconds(20), boot_.get());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex("http=([0-9.]+:[0-9]+)"))) << boot_->Log();
    http_ = "http://" + m[1].str();
  }

  std::string Get(const std::string& path) {
    return RunCommand({"/usr/bin/curl", "-sS", "--max-time", "20", http_ + path}).out;
  }
  std::string Status(const std::string& path) {
    return RunCommand({"/usr/bin/curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                       "%{http_code}", http_ + path})
        .out;
  }
  // A boot's first request, as iPXE makes it: it starts the boot.
  std::string Script() {
    return Get(
        absl::StrCat("/boot/", kMacDashed, "/boot.ipxe?platform=pcbios&manufacturer=VMware"));
  }
  std::string State() { return Get(absl::StrCat("/boot/", kMacDashed, "/state.tgz")); }

  // The common start: the boot server on `boot_store`, following its change
  // feed, and kMac assigned esxi@1 through `admin_store` (the same store, or
  // another frontend of it). Returns the registry client used.
  std::unique_ptr<statestore::HostRegistryClient> StartFollowingWithHostAssigned(
      const StateStoreServer& boot_store, const StateStoreServer& admin_store) {
    StartBootServer(boot_store);
    if (::testing::Test::HasFatalFailure()) return nullptr;
    EXPECT_TRUE(WaitForMetric("midwife_store_watch_connected", 1)) << boot_->Log();
    auto registry = statestore::HostRegistryClient::Connect(admin_store.AdminClientOptions());
    EXPECT_TRUE(registry.ok());
    if (!registry.ok()) return nullptr;
    EXPECT_TRUE((*registry)->Assign(kMac, "esxi@1").ok());
    return *std::move(registry);
  }

  // The value of one series on /metrics ("name" or "name{labels}"), 0 when
  // absent (a counter not yet counted).
  double Metric(const std::string& series) {
    const std::string metrics = "\n" + Get("/metrics");
    const std::string prefix = "\n" + series + " ";
    size_t at = metrics.find(prefix);
    return at == std::string::npos ? 0 : std::stod(metrics.substr(at + prefix.size()));
  }
  // Polls until `series` reaches `at_least`, within kChangeDeadline.
  bool WaitForMetric(const std::string& series, double at_least) {
    const auto deadline = std::chrono::steady_clock::now() + kChangeDeadline;
    while (Metric(series) < at_least) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  TempDir tmp_;
  std::unique_ptr<ChildProcess> boot_;
  std::string http_;
};

// The RocksDB store: the host boots with state v1 from this boot server; v2
// is then backed up straight to the store (the host agent talking to another
// boot server, an operator's copy); the store stops. The host's next boot
// gets v2, from the cache the change feed refreshed.
TEST_F(StoreChangeFollowerTest, FallbackBootGetsTheBackupWrittenThroughAnotherClient) {
  StateStoreServer store(tmp_.File("data"));
  ASSERT_TRUE(store.Start()) << store.log();
  auto registry = StartFollowingWithHostAssigned(store, store);
  ASSERT_FALSE(HasFailure());
  auto client = store.AdminClient();
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "version one\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "version two\n"}});
  ASSERT_TRUE(client->Backup(kMac, v1).ok());

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v1);
  ASSERT_TRUE(client->Backup(kMac, v2).ok());
  ASSERT_TRUE(WaitForMetric("midwife_store_follow_ups_total{what=\"state\",result=\"ok\"}", 1))
      << boot_->Log();
  store.Kill9();

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v2);
  EXPECT_GE(Metric("midwife_store_fallbacks_total"), 1);
  EXPECT_EQ(Metric("midwife_store_stale_fallbacks_total"), 0);
  EXPECT_EQ(Metric("midwife_store_watch_connected"), 0);
  EXPECT_GE(Metric("midwife_store_changes_total{kind=\"head\"}"), 2);
  // Waiting for the store to come back does not hold up a stop.
  const int status = boot_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << boot_->Log();
}

// The store goes away and comes back at the same address, and a backup was
// made while this boot server was not watching (through the store on
// another port): the stream reopens by itself, its RESYNC has every cached
// host's head checked, and the boot the store then cannot answer gets the
// backup made meanwhile.
TEST_F(StoreChangeFollowerTest, ReconnectsAndResyncCatchesABackupMadeWhileAway) {
  auto store = std::make_unique<StateStoreServer>(tmp_.File("data"));
  ASSERT_TRUE(store->Start()) << store->log();
  const std::string address = store->address();
  auto registry = StartFollowingWithHostAssigned(*store, *store);
  ASSERT_FALSE(HasFailure());
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "before the outage\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "during the outage\n"}});
  ASSERT_TRUE(store->AdminClient()->Backup(kMac, v1).ok());
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v1);
  EXPECT_EQ(Metric("midwife_store_changes_total{kind=\"resync\"}"), 1);

  store->Kill9();
  store = std::make_unique<StateStoreServer>(tmp_.File("data"));  // elsewhere
  ASSERT_TRUE(store->Start()) << store->log();
  ASSERT_TRUE(store->AdminClient()->Backup(kMac, v2).ok());
  store->Kill9();
  store = std::make_unique<StateStoreServer>(tmp_.File("data"));
  store->set_listen(address);
  ASSERT_TRUE(store->Start()) << store->log();
  ASSERT_TRUE(WaitForMetric("midwife_store_changes_total{kind=\"resync\"}", 2)) << boot_->Log();
  ASSERT_TRUE(WaitForMetric("midwife_store_follow_ups_total{what=\"state\",result=\"ok\"}", 1))
      << boot_->Log();
  store->Kill9();

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v2);
}

// The same over etcd: boot server A talks to frontend 1 only; the backup
// goes through frontend 2, and reaches A through etcd's watch.
TEST_F(StoreChangeFollowerTest, BackupThroughAnotherEtcdFrontendReachesTheFallback) {
  if (EtcdCluster::Binary().empty()) {
    GTEST_SKIP() << "etcd is not installed (apt-get install etcd-server): etcd watch test skipped";
  }
  EtcdCluster cluster(tmp_.File("etcd"), 1);
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();
  std::vector<std::unique_ptr<StateStoreServer>> frontends;
  for (int i = 0; i < 2; ++i) {
    const std::string data = tmp_.File(absl::StrCat("frontend", i));
    if (i == 1) {
      // Every frontend of one cluster shares the admin token and the
      // host-token secret.
      std::filesystem::create_directories(data);
      for (const char* f : {"admin.token", "host-token.secret"}) {
        std::filesystem::copy_file(tmp_.File("frontend0") + "/" + f, data + "/" + f);
      }
    }
    frontends.push_back(std::make_unique<StateStoreServer>(
        data, std::vector<std::string>{"--engine", "etcd", "--etcd-endpoints",
                                       cluster.EndpointsFlag(), "--etcd-timeout-ms", "2000"}));
    ASSERT_TRUE(frontends.back()->Start()) << frontends.back()->log();
  }
  auto registry = StartFollowingWithHostAssigned(*frontends[0], *frontends[1]);
  ASSERT_FALSE(HasFailure());
  auto other = frontends[1]->AdminClient();
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "etcd one\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "etcd two\n"}});
  ASSERT_TRUE(other->Backup(kMac, v1).ok());

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v1);
  ASSERT_TRUE(other->Backup(kMac, v2).ok());
  ASSERT_TRUE(WaitForMetric("midwife_store_follow_ups_total{what=\"state\",result=\"ok\"}", 1))
      << boot_->Log();
  for (auto& frontend : frontends) frontend->Kill9();

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v2);
  EXPECT_GE(Metric("midwife_store_fallbacks_total"), 1);
}

// A host deleted from the store is forgotten here too: with the store gone,
// its boot is not answered from the cache, nor its state served.
TEST_F(StoreChangeFollowerTest, DeletedHostIsNotBootedFromTheCache) {
  StateStoreServer store(tmp_.File("data"));
  ASSERT_TRUE(store.Start()) << store.log();
  auto registry = StartFollowingWithHostAssigned(store, store);
  ASSERT_FALSE(HasFailure());
  auto client = store.AdminClient();
  const std::string state = MakeEsxiStateTgz({{"etc/motd", "secret\n"}});
  ASSERT_TRUE(client->Backup(kMac, state).ok());
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), state);

  ASSERT_TRUE(client->DeleteHost(kMac).ok());
  ASSERT_TRUE(WaitForMetric("midwife_store_changes_total{kind=\"host_deleted\"}", 1))
      << boot_->Log();
  store.Kill9();

  const std::string script = Script();
  EXPECT_THAT(script, Not(HasSubstr("esxi@1")));
  EXPECT_THAT(script, HasSubstr("no earlier boot"));
  EXPECT_EQ(Status(absl::StrCat("/boot/", kMacDashed, "/state.tgz")), "403");
}

// An assignment changed through the store marks the cached decision stale: a
// boot the store cannot answer still gets the last known image (better than
// none), and the boot server says it served a stale decision. A boot's own
// record changes (this server's BeginBoot) do not. Each change carries the
// record: none is read back.
TEST_F(StoreChangeFollowerTest, AssignmentChangeMarksTheCachedDecisionStale) {
  StateStoreServer store(tmp_.File("data"));
  ASSERT_TRUE(store.Start()) << store.log();
  auto registry = StartFollowingWithHostAssigned(store, store);
  ASSERT_FALSE(HasFailure());
  // The first boot's own record change may come before its decision is
  // cached; the second's comes after the first's is.
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  ASSERT_TRUE(WaitForMetric("midwife_store_change_records_total{result=\"ok\"}", 1))
      << boot_->Log();
  EXPECT_EQ(Metric("midwife_store_change_records_total{result=\"stale\"}"), 0);

  ASSERT_TRUE(registry->Assign(kMac, "esxi@2").ok());
  ASSERT_TRUE(WaitForMetric("midwife_store_change_records_total{result=\"stale\"}", 1))
      << boot_->Log();
  EXPECT_EQ(Metric("midwife_store_follow_ups_total{what=\"record\",result=\"ok\"}"), 0);
  EXPECT_EQ(Metric("midwife_store_follow_ups_total{what=\"record\",result=\"stale\"}"), 0);
  store.Kill9();

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(Metric("midwife_store_stale_fallbacks_total"), 1);
}

// The host's own state upload through this boot server is kept rendered
// from the bytes it brought: the HEAD change for it costs no Restore, and a
// boot the store then cannot answer gets it.
TEST_F(StoreChangeFollowerTest, OwnUploadIsNotFetchedBack) {
  StateStoreServer store(tmp_.File("data"));
  ASSERT_TRUE(store.Start()) << store.log();
  auto registry = StartFollowingWithHostAssigned(store, store);
  ASSERT_FALSE(HasFailure());
  auto client = store.AdminClient();
  const std::string v1 = MakeEsxiStateTgz({{"etc/motd", "stored by the admin\n"}});
  const std::string v2 = MakeEsxiStateTgz({{"etc/motd", "uploaded by the host\n"}});
  ASSERT_TRUE(client->Backup(kMac, v1).ok());
  // Seen before the boot: no decision to fetch it for.
  ASSERT_TRUE(WaitForMetric("midwife_store_changes_total{kind=\"head\"}", 1)) << boot_->Log();
  auto token = client->IssueHostToken(kMac);
  ASSERT_TRUE(token.ok());
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v1);

  ASSERT_TRUE(WriteFileAtomically(tmp_.File("v2.tgz"), v2).ok());
  EXPECT_EQ(RunCommand({"/usr/bin/curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                        "%{http_code}", "-X", "POST", "--data-binary", "@" + tmp_.File("v2.tgz"),
                        "-H", "Authorization: Bearer " + *token,
                        http_ + absl::StrCat("/hosts/", kMacDashed, "/state")})
                .out,
            "200");
  ASSERT_TRUE(WaitForMetric("midwife_store_changes_total{kind=\"head\"}", 2)) << boot_->Log();
  EXPECT_EQ(Metric("midwife_store_follow_ups_total{what=\"state\",result=\"ok\"}"), 0);
  EXPECT_EQ(Metric("midwife_store_follow_ups_total{what=\"state\",result=\"failed\"}"), 0);
  store.Kill9();

  EXPECT_THAT(Script(), HasSubstr("esxi@1"));
  EXPECT_EQ(State(), v2);
}

// SIGTERM ends the boot server promptly while its change stream is open.
TEST_F(StoreChangeFollowerTest, StopsCleanlyOnSigtermWhileFollowing) {
  StateStoreServer store(tmp_.File("data"));
  ASSERT_TRUE(store.Start()) << store.log();
  ASSERT_NO_FATAL_FAILURE(StartBootServer(store));
  ASSERT_TRUE(WaitForMetric("midwife_store_watch_connected", 1)) << boot_->Log();
  const auto start = std::chrono::steady_clock::now();
  const int status = boot_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << boot_->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace midwife::bootserver
