// Integration: the HostRegistry service of a real `statestore serve` process,
// driven by the real client library as the boot server will drive it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "statestore/boot_batcher.h"
#include "statestore/host_registry_client.h"
#include "tests/statestore/boots_at_once.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::StateStoreServer;

constexpr char kMac[] = "02:00:00:00:00:01";
constexpr char kOtherMac[] = "02:00:00:00:00:02";

v1::BootRequest BootOf(const char* mac) {
  v1::BootRequest request;
  request.set_mac(mac);
  request.mutable_facts()->set_address("10.0.0.5");
  request.mutable_facts()->set_arch(7);
  return request;
}

v1::ReportBirthRequest ReportOf(const char* mac, const char* image, bool ok) {
  v1::ReportBirthRequest request;
  request.set_mac(mac);
  request.set_image(image);
  request.set_build("22380479");
  request.set_ok(ok);
  request.set_address("10.0.0.5");
  return request;
}

class HostRegistryServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }
  void StartServer(std::vector<std::string> flags) {
    server_ = std::make_unique<StateStoreServer>(tmp_.File("data"), std::move(flags));
    ASSERT_TRUE(server_->Start()) << server_->log();
    admin_ = ClientWithToken(server_->admin_token());
    ASSERT_NE(admin_, nullptr);
  }
  std::unique_ptr<HostRegistryClient> ClientWithToken(const std::string& token) {
    ClientOptions options = server_->AdminClientOptions();
    options.token = token;
    auto client = HostRegistryClient::Connect(options);
    return client.ok() ? *std::move(client) : nullptr;
  }
  v1::BootDecision Boot(const char* mac) {
    auto d = admin_->BeginBoot(BootOf(mac));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::BootDecision();
  }

  TempDir tmp_;
  std::unique_ptr<StateStoreServer> server_;
  std::unique_ptr<HostRegistryClient> admin_;
};

TEST_F(HostRegistryServerTest, PublishBootReportMakesTheImageActive) {
  ASSERT_TRUE(admin_->Assign(kMac, "esxi@8.0u2").ok());
  v1::BootDecision trial = Boot("02-00-00-00-00-01");
  EXPECT_EQ(trial.mac(), kMac);
  EXPECT_EQ(trial.image(), "esxi@8.0u2");
  EXPECT_EQ(trial.bank(), "alternate");
  EXPECT_EQ(trial.bootstate(), v1::BOOT_STATE_ATTEMPTED);
  ASSERT_THAT(trial.host_token(), HasSubstr("mwh1-"));

  // The host reports with the token it was handed.
  auto host = ClientWithToken(trial.host_token());
  auto record = host->ReportBirth(ReportOf(kMac, "esxi@8.0u2", true));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->active().image(), "esxi@8.0u2");
  EXPECT_EQ(record->active().state(), v1::BOOT_STATE_VALID);
  EXPECT_EQ(record->active().build(), "22380479");

  v1::BootDecision next = Boot(kMac);
  EXPECT_EQ(next.bank(), "active");
  EXPECT_EQ(next.bootstate(), v1::BOOT_STATE_VALID);
  EXPECT_FALSE(next.fallback());
}

TEST_F(HostRegistryServerTest, BootingTwiceWithoutAReportFallsBack) {
  ASSERT_TRUE(admin_->Assign(kMac, "esxi@7.0u3").ok());
  Boot(kMac);
  ASSERT_TRUE(admin_->ReportBirth(ReportOf(kMac, "", true)).ok());
  ASSERT_TRUE(admin_->Assign(kMac, "esxi@8.0u2").ok());
  EXPECT_EQ(Boot(kMac).image(), "esxi@8.0u2");

  v1::BootDecision second = Boot(kMac);
  EXPECT_EQ(second.image(), "esxi@7.0u3");
  EXPECT_EQ(second.bank(), "active");
  EXPECT_TRUE(second.fallback());
  EXPECT_THAT(second.reason(), HasSubstr("booted again before a birth report"));

  auto events = admin_->ListEvents(kMac);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<v1::HostEventKind> kinds;
  for (const auto& e : *events) kinds.push_back(e.kind());
  EXPECT_THAT(kinds, ElementsAre(v1::HOST_EVENT_KIND_FAILED, v1::HOST_EVENT_KIND_ATTEMPTED,
                                 v1::HOST_EVENT_KIND_PUBLISHED, v1::HOST_EVENT_KIND_CONFIRMED,
                                 v1::HOST_EVENT_KIND_ATTEMPTED, v1::HOST_EVENT_KIND_PUBLISHED));
  EXPECT_EQ((*events)[0].from_state(), v1::BOOT_STATE_ATTEMPTED);
  EXPECT_EQ((*events)[0].to_state(), v1::BOOT_STATE_INVALID);
  EXPECT_EQ((*events)[0].address(), "10.0.0.5");
  EXPECT_GE((*events)[0].unix_ms(), (*events)[1].unix_ms());

  auto back = admin_->Rollback(kMac);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->active().image(), "esxi@8.0u2");
}

TEST_F(HostRegistryServerTest, HostTokenMayOnlyReportForItsOwnMac) {
  ASSERT_TRUE(admin_->Assign(kMac, "esxi@8.0u2").ok());
  const std::string token = Boot(kMac).host_token();
  auto host = ClientWithToken(token);
  EXPECT_EQ(host->ReportBirth(ReportOf(kOtherMac, "esxi@8.0u2", true)).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(host->BeginBoot(BootOf(kMac)).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(host->GetHost(kMac).status().code(), absl::StatusCode::kPermissionDenied);
  auto anonymous = ClientWithToken("");
  EXPECT_EQ(anonymous->BeginBoot(BootOf("not-a-mac")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(admin_->BeginBoot(BootOf("not-a-mac")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HostRegistryServerTest, RulesAndDiscoveredHostsSurviveARestart) {
  v1::Rule lab;
  lab.set_name("lab");
  lab.set_image("esxi@8.0u2");
  lab.set_arch(7);
  lab.set_cidr("10.0.0.0/24");
  auto set = admin_->SetRules({lab});
  ASSERT_TRUE(set.ok()) << set.status();
  v1::Rule broken = lab;
  broken.set_cidr("10.0.0.1/24");
  EXPECT_EQ(admin_->SetRules({broken}).status().code(), absl::StatusCode::kInvalidArgument);

  v1::BootRequest elsewhere = BootOf(kOtherMac);
  elsewhere.mutable_facts()->set_address("192.168.0.9");
  auto discovered = admin_->BeginBoot(elsewhere);
  ASSERT_TRUE(discovered.ok()) << discovered.status();
  EXPECT_TRUE(discovered->discovered());
  EXPECT_EQ(Boot(kMac).image(), "esxi@8.0u2");

  server_->Terminate();
  ASSERT_TRUE(server_->Start()) << server_->log();
  admin_ = ClientWithToken(server_->admin_token());
  auto rules = admin_->GetRules();
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(rules->generation(), 1u);
  auto page = admin_->ListHosts(0, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->hosts_size(), 2);
  EXPECT_EQ(page->hosts(0).alternate().state(), v1::BOOT_STATE_ATTEMPTED);
  EXPECT_TRUE(page->hosts(1).discovered());
  EXPECT_EQ(page->hosts(1).facts().address(), "192.168.0.9");
}

TEST_F(HostRegistryServerTest, ReportDeadlineFlagSetsTheDeadline) {
  server_->Terminate();
  StartServer({"--report-deadline-seconds", "90"});
  ASSERT_TRUE(admin_->Assign(kMac, "esxi@8.0u2").ok());
  Boot(kMac);
  auto record = admin_->GetHost(kMac);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->alternate().deadline_unix_ms() - record->alternate().changed_unix_ms(), 90'000);
}

TEST_F(HostRegistryServerTest, BeginBootsAuthorizesAndAnswersEachBootInOrder) {
  v1::BootRequests requests;
  *requests.add_requests() = BootOf(kMac);
  *requests.add_requests() = BootOf("not-a-mac");
  *requests.add_requests() = BootOf(kOtherMac);
  auto answer = admin_->BeginBoots(requests);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->outcomes_size(), 3);
  EXPECT_EQ(answer->outcomes(0).code(), 0) << answer->outcomes(0).message();
  EXPECT_EQ(answer->outcomes(0).decision().mac(), kMac);
  EXPECT_THAT(answer->outcomes(0).decision().host_token(), HasSubstr("mwh1-"));
  EXPECT_EQ(answer->outcomes(1).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(answer->outcomes(1).message(), HasSubstr("not-a-mac"));
  EXPECT_FALSE(answer->outcomes(1).has_decision());
  EXPECT_EQ(answer->outcomes(2).code(), 0) << answer->outcomes(2).message();
  EXPECT_EQ(answer->outcomes(2).decision().mac(), kOtherMac);

  // Like BeginBoot, admin only: a host's own token boots nothing.
  auto host = ClientWithToken(answer->outcomes(0).decision().host_token());
  v1::BootRequests own;
  *own.add_requests() = BootOf(kMac);
  auto denied = host->BeginBoots(own);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  auto record = admin_->GetHost(kMac);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->boot_count(), 1u) << "the refused call recorded nothing";

  v1::BootRequests too_many;
  for (int i = 0; i < 257; ++i) *too_many.add_requests() = BootOf(kMac);
  auto refused = admin_->BeginBoots(too_many);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("257"));
}

TEST_F(HostRegistryServerTest, ConcurrentBootsShareRoundTripsThroughTheBatcher) {
  constexpr int kHosts = 48;
  BootBatcher batcher(*admin_);
  const uint64_t calls_before = admin_->calls();
  std::vector<std::string> macs;
  for (int i = 0; i < kHosts; ++i) macs.push_back(absl::StrFormat("02:00:00:00:10:%02x", i));
  const std::vector<absl::StatusOr<v1::BootDecision>> answers = testing::BootAtOnce(batcher, macs);
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(answers[i].ok()) << macs[i] << ": " << answers[i].status();
    EXPECT_EQ(answers[i]->mac(), macs[i]) << "each caller gets its own host's decision";
    EXPECT_TRUE(answers[i]->discovered());
    EXPECT_THAT(answers[i]->host_token(), HasSubstr("mwh1-"));
    auto record = admin_->GetHost(macs[i]);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->boot_count(), 1u);
  }
  const uint64_t round_trips = admin_->calls() - calls_before - kHosts;  // minus the GetHosts
  EXPECT_GE(batcher.batches(), 1u);
  EXPECT_LT(round_trips, static_cast<uint64_t>(kHosts)) << "boots waiting together went together";
}

}  // namespace
}  // namespace midwife::statestore
