// BootBatcher against in-process HostRegistry services that behave as a
// store from before BeginBoots, or answer a batch wrongly: the cases a real
// store of this version never produces.
#include "statestore/boot_batcher.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "tests/statestore/boots_at_once.h"

namespace midwife::statestore {
namespace {

using ::testing::HasSubstr;

// Has BeginBoot only (BeginBoots answers UNIMPLEMENTED, as the generated
// base class does). Each boot takes a while, so that others queue behind it.
class RegistryWithoutBatches : public v1::HostRegistry::Service {
 public:
  grpc::Status BeginBoot(grpc::ServerContext*, const v1::BootRequest* request,
                         v1::BootDecision* decision) override {
    boots.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    decision->set_mac(request->mac());
    return grpc::Status::OK;
  }
  std::atomic<int> boots{0};
};

// Answers every batch with a single outcome, whatever it carried.
class RegistryMiscountingBatches : public RegistryWithoutBatches {
 public:
  grpc::Status BeginBoots(grpc::ServerContext*, const v1::BootRequests* requests,
                          v1::BootOutcomes* outcomes) override {
    outcomes->add_outcomes()->mutable_decision()->set_mac(requests->requests(0).mac());
    return grpc::Status::OK;
  }
};

// `service` on a loopback port, with a client and a batcher over it.
class InProcessRegistry {
 public:
  explicit InProcessRegistry(grpc::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    ClientOptions options;
    options.server = absl::StrFormat("127.0.0.1:%d", port_);
    options.token = "test";
    client_ = *HostRegistryClient::Connect(options);  // only TLS files can fail it
    batcher_ = std::make_unique<BootBatcher>(*client_);
  }
  ~InProcessRegistry() { server_->Shutdown(); }
  BootBatcher& batcher() { return *batcher_; }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HostRegistryClient> client_;
  std::unique_ptr<BootBatcher> batcher_;
};

std::string MacOf(int i) { return absl::StrFormat("02:00:00:00:20:%02x", i); }

// `hosts` hosts boot at once through `batcher`; the answers, in host order.
std::vector<absl::StatusOr<v1::BootDecision>> BootTogether(BootBatcher& batcher, int hosts) {
  std::vector<std::string> macs;
  for (int i = 0; i < hosts; ++i) macs.push_back(MacOf(i));
  return testing::BootAtOnce(batcher, macs);
}

TEST(BootBatcherTest, AStoreWithoutBeginBootsGetsEveryBootAlone) {
  RegistryWithoutBatches service;
  InProcessRegistry registry(&service);
  BootBatcher& batcher = registry.batcher();
  constexpr int kHosts = 16;
  auto answers = BootTogether(batcher, kHosts);
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(answers[i].ok()) << MacOf(i) << ": " << answers[i].status();
    EXPECT_EQ(answers[i]->mac(), MacOf(i));
  }
  EXPECT_EQ(service.boots.load(), kHosts) << "every boot reached the old store once";
  EXPECT_GE(batcher.batches(), 1u) << "a batch was tried, refused, and not tried again";

  // Once the store is known to be old, boots go straight to BeginBoot.
  const uint64_t tried = batcher.batches();
  answers = BootTogether(batcher, 4);
  for (auto& a : answers) EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(batcher.batches(), tried);
}

TEST(BootBatcherTest, AnAnswerForTheWrongNumberOfBootsFailsTheBatchNotTheProcess) {
  RegistryMiscountingBatches service;
  InProcessRegistry registry(&service);
  BootBatcher& batcher = registry.batcher();
  constexpr int kHosts = 16;
  auto answers = BootTogether(batcher, kHosts);
  int refused = 0;
  for (int i = 0; i < kHosts; ++i) {
    if (answers[i].ok()) {
      EXPECT_EQ(answers[i]->mac(), MacOf(i)) << "a boot sent alone is answered";
      continue;
    }
    ++refused;
    EXPECT_EQ(answers[i].status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(answers[i].status().message(), HasSubstr("answered 1 boots of"));
  }
  EXPECT_GT(refused, 0) << "the boots queued behind the first went as a batch";
}

TEST(BootBatcherTest, EveryWaitingBootLearnsThatTheStoreIsDown) {
  ClientOptions options;
  options.server = "127.0.0.1:1";  // nothing listens there
  options.token = "test";
  options.max_attempts = 1;
  options.deadline = std::chrono::milliseconds(2000);
  auto client = HostRegistryClient::Connect(options);
  ASSERT_TRUE(client.ok());
  BootBatcher batcher(**client);
  auto answers = BootTogether(batcher, 8);
  for (auto& a : answers) {
    EXPECT_TRUE(absl::IsUnavailable(a.status()) || absl::IsDeadlineExceeded(a.status()))
        << a.status();
  }
}

}  // namespace
}  // namespace midwife::statestore
