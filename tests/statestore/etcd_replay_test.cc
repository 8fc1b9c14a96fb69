// EtcdEngine's handling of a commit whose answer was lost (the Txn applied,
// the reply never came), against an in-process fake of etcd's KV service
// that evaluates the subset of Txn the engine sends and can fail on cue.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>

#include "proto/etcd/rpc.grpc.pb.h"
#include "statestore/etcd_engine.h"

namespace midwife::statestore {
namespace {

class FakeKv final : public etcdserverpb::KV::Service {
 public:
  // Runs before each Txn with the call's number (1: first); returning a
  // non-OK status fails the call after (`apply_first`) or without applying.
  std::function<grpc::Status(int call, bool* apply_first)> before_txn;
  std::map<std::string, std::string> data;
  int txn_calls = 0;
  int last_failure_ops = 0;

  grpc::Status Txn(grpc::ServerContext*, const etcdserverpb::TxnRequest* request,
                   etcdserverpb::TxnResponse* response) override {
    std::lock_guard lock(mu_);
    ++txn_calls;
    last_failure_ops = request->failure_size();
    bool apply = true;
    grpc::Status injected = before_txn ? before_txn(txn_calls, &apply) : grpc::Status::OK;
    if (!injected.ok()) {
      if (apply) Apply(*request, nullptr);
      return injected;
    }
    Apply(*request, response);
    return grpc::Status::OK;
  }

 private:
  bool Holds(const etcdserverpb::Compare& c) {
    auto it = data.find(c.key());
    if (c.target() == etcdserverpb::Compare::VALUE) {
      return it != data.end() && it->second == c.value();
    }
    const bool present = it != data.end();  // CREATE against 0.
    return c.result() == etcdserverpb::Compare::EQUAL ? !present : present;
  }
  void Apply(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response) {
    bool ok = true;
    for (const auto& c : request.compare()) ok = ok && Holds(c);
    for (const auto& op : ok ? request.success() : request.failure()) {
      if (op.has_request_put()) data[op.request_put().key()] = op.request_put().value();
      if (op.has_request_delete_range()) data.erase(op.request_delete_range().key());
      if (op.has_request_range() && response) {
        auto* range = response->add_responses()->mutable_response_range();
        auto it = data.find(op.request_range().key());
        if (it != data.end()) {
          range->add_kvs()->set_key(it->first);
          range->mutable_kvs(range->kvs_size() - 1)->set_value(it->second);
        }
      }
    }
    if (response) response->set_succeeded(ok);
  }
  std::mutex mu_;
};

class EtcdReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    EtcdEngineOptions options;
    options.endpoints = {"127.0.0.1:" + std::to_string(port)};
    options.attempt_timeout = std::chrono::seconds(2);
    options.call_timeout = std::chrono::seconds(5);
    engine_ = *EtcdEngine::Connect(options);
  }
  void TearDown() override { server_->Shutdown(); }
  // The first Txn is applied but its answer is lost.
  void LoseFirstAnswer() {
    fake_.before_txn = [](int call, bool* apply) {
      *apply = true;
      return call == 1 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset")
                       : grpc::Status::OK;
    };
  }

  FakeKv fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<EtcdEngine> engine_;
};

TEST_F(EtcdReplayTest, AppliedCommitWhoseAnswerWasLostIsOk) {
  fake_.data["h/x"] = "old";
  LoseFirstAnswer();
  WriteBatch batch;
  batch.puts = {{"h/x", "new"}, {"v/x/1", "record"}};
  absl::Status st = engine_->Commit({{"h/x", "old"}}, batch);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(fake_.txn_calls, 2);
  EXPECT_EQ(fake_.last_failure_ops, 1);  // The replay read the head back.
  EXPECT_EQ(fake_.data["h/x"], "new");
}

TEST_F(EtcdReplayTest, FailedAttemptThatWasNotAppliedIsRetriedAndApplies) {
  fake_.data["h/x"] = "old";
  fake_.before_txn = [](int call, bool* apply) {
    *apply = false;
    return call == 1 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "no leader") : grpc::Status::OK;
  };
  WriteBatch batch;
  batch.puts = {{"h/x", "new"}};
  EXPECT_TRUE(engine_->Commit({{"h/x", "old"}}, batch).ok());
  EXPECT_EQ(fake_.data["h/x"], "new");
}

TEST_F(EtcdReplayTest, ReplayFindingAnotherWritersValueIsAborted) {
  fake_.data["h/x"] = "old";
  fake_.before_txn = [this](int call, bool* apply) {
    if (call != 1) return grpc::Status::OK;
    *apply = false;
    fake_.data["h/x"] = "theirs";  // Another frontend won meanwhile.
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow");
  };
  WriteBatch batch;
  batch.puts = {{"h/x", "mine"}};
  absl::Status st = engine_->Commit({{"h/x", "old"}}, batch);
  EXPECT_TRUE(absl::IsAborted(st)) << st;
  EXPECT_EQ(fake_.data["h/x"], "theirs");
}

TEST_F(EtcdReplayTest, ReplayOfABatchNotWritingItsPreconditionKeysIsReportedUnknown) {
  // Deleting chunks while their version record is absent: the record is
  // the precondition, the chunks the writes; once applied, the replay's
  // compare may hold or not, but here another writer created the record.
  fake_.data["d/x/1/0"] = "chunk";
  fake_.before_txn = [this](int call, bool* apply) {
    if (call != 1) return grpc::Status::OK;
    *apply = true;
    fake_.data["v/x/1"] = "record";
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset");
  };
  WriteBatch batch;
  batch.deletes = {"d/x/1/0"};
  absl::Status st = engine_->Commit({{"v/x/1", std::nullopt}}, batch);
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
}

}  // namespace
}  // namespace midwife::statestore
