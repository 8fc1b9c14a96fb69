#include "statestore/etcd_engine.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "proto/etcd/rpc.grpc.pb.h"

namespace midwife::statestore {
namespace {

using Clock = std::chrono::steady_clock;

// Room left in a request for protobuf framing of the ops (a few bytes each)
// when callers fill a commit up to Limits().max_bytes.
constexpr size_t kRequestFramingMargin = 64 << 10;
// Keys fetched per Range when a Scan has no limit or a large one.
constexpr int64_t kScanPageKeys = 1000;
// Largest Range answer accepted: a page of keys with values up to 1 MiB each
// would exceed it, so value scans page by bytes too (see RangeAll).
constexpr int kMaxReceiveBytes = 256 << 20;
constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

// The end of the key range holding every key that starts with `prefix`:
// `prefix` with its last byte below 0xff incremented and what follows it
// dropped; "\0" (no end) when there is no such byte.
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

bool Retriable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // etcd sheds load with this; "database space exceeded" is final.
      return status.error_message().find("too many requests") != std::string::npos;
    default:
      return false;
  }
}

absl::Status FromGrpc(const grpc::Status& status, std::string_view what) {
  std::string message = absl::StrCat("etcd ", std::string(what), ": ", status.error_message());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(message);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::InvalidArgumentError(message);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(message);
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

size_t CommitBytes(const std::vector<Precondition>& preconditions, const WriteBatch& batch) {
  size_t bytes = 0;
  for (const auto& p : preconditions) bytes += p.key.size() + (p.value ? p.value->size() : 0);
  for (const auto& [k, v] : batch.puts) bytes += k.size() + v.size();
  for (const auto& k : batch.deletes) bytes += k.size();
  return bytes;
}

void AddCompare(const Precondition& p, etcdserverpb::TxnRequest& txn) {
  etcdserverpb::Compare* c = txn.add_compare();
  c->set_key(p.key);
  if (p.any_value) {
    c->set_target(etcdserverpb::Compare::CREATE);
    c->set_result(etcdserverpb::Compare::GREATER);
    c->set_create_revision(0);
  } else if (!p.value) {
    c->set_target(etcdserverpb::Compare::CREATE);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_create_revision(0);
  } else {
    // etcd fails a VALUE compare on a missing key, so "" matches only a
    // present, empty value.
    c->set_target(etcdserverpb::Compare::VALUE);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_value(*p.value);
  }
}

// What `batch` leaves in `key`: its put value, nullopt for a delete, and
// false in `writes` when the batch does not touch `key`.
std::optional<std::string> Written(const WriteBatch& batch, const std::string& key, bool* writes) {
  *writes = true;
  for (const auto& [k, v] : batch.puts) {
    if (k == key) return v;
  }
  if (std::find(batch.deletes.begin(), batch.deletes.end(), key) != batch.deletes.end()) {
    return std::nullopt;
  }
  *writes = false;
  return std::nullopt;
}

}  // namespace

struct EtcdEngine::Member {
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
};

absl::StatusOr<std::unique_ptr<EtcdEngine>> EtcdEngine::Connect(const EtcdEngineOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd engine needs at least one endpoint (--etcd-endpoints)");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("--etcd-cert and --etcd-key go together");
  }
  if (!options.cert_file.empty() && options.ca_file.empty()) {
    return absl::InvalidArgumentError("--etcd-cert needs --etcd-ca");
  }
  if (options.max_request_bytes <= 2 * kRequestFramingMargin || options.max_txn_ops < 4) {
    return absl::InvalidArgumentError(absl::StrCat("etcd limits too small: max request bytes ",
                                                   options.max_request_bytes, ", max txn ops ",
                                                   options.max_txn_ops));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.ca_file, 1 << 20));
    if (!options.cert_file.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(options.cert_file, 1 << 20));
      ASSIGN_OR_RETURN(ssl.pem_private_key, ReadSecretFile(options.key_file));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  args.SetMaxSendMessageSize(static_cast<int>(options.max_request_bytes) + (1 << 20));
  // A restarted member is back in use within a second, not after gRPC's
  // default two-minute reconnect backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC also takes this as the connect timeout: a busy member may need more
  // than a tenth of a second to answer a handshake.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  std::vector<std::unique_ptr<Member>> members;
  for (const std::string& endpoint : options.endpoints) {
    auto member = std::make_unique<Member>();
    member->endpoint = endpoint;
    member->channel = grpc::CreateCustomChannel(endpoint, credentials, args);
    member->kv = etcdserverpb::KV::NewStub(member->channel);
    members.push_back(std::move(member));
  }
  return std::unique_ptr<EtcdEngine>(new EtcdEngine(options, std::move(members)));
}

EtcdEngine::EtcdEngine(EtcdEngineOptions options, std::vector<std::unique_ptr<Member>> members)
    : options_(std::move(options)), members_(std::move(members)) {}

EtcdEngine::~EtcdEngine() = default;

grpc::Status EtcdEngine::Invoke(
    const std::function<grpc::Status(Member&, grpc::ClientContext&)>& attempt,
    bool* maybe_applied) {
  const Clock::time_point give_up = Clock::now() + options_.call_timeout;
  size_t index = preferred_.load(std::memory_order_relaxed) % members_.size();
  auto backoff = kFirstBackoff;
  grpc::Status status;
  for (size_t tried = 1;; ++tried) {
    grpc::ClientContext context;
    const Clock::time_point deadline = std::min(give_up, Clock::now() + options_.attempt_timeout);
    context.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
    status = attempt(*members_[index], context);
    if (status.ok()) {
      preferred_.store(index, std::memory_order_relaxed);
      return status;
    }
    if (!Retriable(status)) return status;
    if (maybe_applied && status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
      *maybe_applied = true;
    }
    index = (index + 1) % members_.size();
    if (tried % members_.size() == 0) {
      // Every member failed once: a leader election, most likely. Wait a
      // little before going round again.
      if (Clock::now() + backoff >= give_up) break;
      std::this_thread::sleep_for(backoff);
      backoff =
          std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
    if (Clock::now() >= give_up) break;
  }
  return grpc::Status(status.error_code(),
                      absl::StrCat("no etcd member answered within ", options_.call_timeout.count(),
                                   " ms (", absl::StrJoin(options_.endpoints, ","),
                                   "); last error: ", status.error_message()));
}

absl::StatusOr<std::optional<std::string>> EtcdEngine::Get(std::string_view key) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::string(key));
  etcdserverpb::RangeResponse response;
  grpc::Status status = Invoke(
      [&](Member& m, grpc::ClientContext& context) {
        return m.kv->Range(&context, request, &response);
      },
      nullptr);
  RETURN_IF_ERROR(FromGrpc(status, absl::StrCat("reading ", std::string(key))));
  if (response.kvs_size() == 0) return std::nullopt;
  return std::move(*response.mutable_kvs(0)->mutable_value());
}

absl::StatusOr<std::vector<KeyValue>> EtcdEngine::RangeAll(std::string_view prefix,
                                                           std::string_view start_after,
                                                           size_t limit, bool keys_only) {
  std::vector<KeyValue> out;
  std::string from = start_after.empty() || start_after < prefix
                         ? std::string(prefix)
                         : std::string(start_after) + std::string(1, '\0');
  const std::string end = PrefixEnd(prefix);
  // Values may be 1 MiB chunks: a page of them is kept well below the
  // receive limit.
  const int64_t page = keys_only ? kScanPageKeys : 64;
  int64_t revision = 0;  // Every page after the first reads the first's snapshot.
  while (true) {
    etcdserverpb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(end);
    int64_t want = page;
    if (limit != 0) want = std::min<int64_t>(want, static_cast<int64_t>(limit - out.size()));
    request.set_limit(want);
    request.set_revision(revision);
    request.set_keys_only(keys_only);
    request.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
    request.set_sort_target(etcdserverpb::RangeRequest::KEY);
    etcdserverpb::RangeResponse response;
    grpc::Status status = Invoke(
        [&](Member& m, grpc::ClientContext& context) {
          return m.kv->Range(&context, request, &response);
        },
        nullptr);
    RETURN_IF_ERROR(FromGrpc(status, absl::StrCat("scanning ", std::string(prefix))));
    if (revision == 0) revision = response.header().revision();
    for (auto& kv : *response.mutable_kvs()) {
      out.push_back({std::move(*kv.mutable_key()), std::move(*kv.mutable_value())});
    }
    if (!response.more() || response.kvs_size() == 0) break;
    if (limit != 0 && out.size() >= limit) break;
    from = absl::StrCat(out.back().key, std::string(1, '\0'));
  }
  return out;
}

absl::StatusOr<std::vector<KeyValue>> EtcdEngine::Scan(std::string_view prefix,
                                                       std::string_view start_after, size_t limit) {
  return RangeAll(prefix, start_after, limit, /*keys_only=*/false);
}

absl::StatusOr<std::vector<std::string>> EtcdEngine::ScanKeys(std::string_view prefix,
                                                              std::string_view start_after,
                                                              size_t limit) {
  ASSIGN_OR_RETURN(std::vector<KeyValue> rows, RangeAll(prefix, start_after, limit, true));
  std::vector<std::string> keys;
  keys.reserve(rows.size());
  for (KeyValue& row : rows) keys.push_back(std::move(row.key));
  return keys;
}

CommitLimits EtcdEngine::Limits() const {
  return {options_.max_request_bytes - kRequestFramingMargin, options_.max_txn_ops};
}

absl::Status EtcdEngine::Commit(const std::vector<Precondition>& preconditions,
                                const WriteBatch& batch) {
  const CommitLimits limits = Limits();
  const size_t ops = batch.puts.size() + batch.deletes.size();
  if (preconditions.size() > limits.max_ops || ops > limits.max_ops ||
      CommitBytes(preconditions, batch) > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit of ", preconditions.size(), " preconditions, ", ops, " writes and ",
                     CommitBytes(preconditions, batch), " bytes exceeds etcd's limits (",
                     limits.max_ops, " ops, ", limits.max_bytes, " bytes)"));
  }
  etcdserverpb::TxnRequest txn;
  for (const auto& p : preconditions) AddCompare(p, txn);
  for (const auto& [k, v] : batch.puts) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(v);
  }
  for (const auto& k : batch.deletes) {
    txn.add_success()->mutable_request_delete_range()->set_key(k);
  }
  // Precondition keys the batch writes: on a replay, their contents tell
  // whether the first attempt was applied (see the header).
  std::vector<std::pair<std::string, std::optional<std::string>>> witnesses;
  for (const auto& p : preconditions) {
    bool writes = false;
    std::optional<std::string> value = Written(batch, p.key, &writes);
    if (writes) witnesses.emplace_back(p.key, std::move(value));
  }

  bool maybe_applied = false;
  bool replay = false;
  etcdserverpb::TxnResponse response;
  grpc::Status status = Invoke(
      [&](Member& m, grpc::ClientContext& context) {
        if (maybe_applied && !replay) {
          replay = true;
          for (const auto& [key, value] : witnesses) {
            txn.add_failure()->mutable_request_range()->set_key(key);
          }
        }
        response.Clear();
        return m.kv->Txn(&context, txn, &response);
      },
      &maybe_applied);
  RETURN_IF_ERROR(FromGrpc(status, "commit"));
  if (response.succeeded()) return absl::OkStatus();
  if (!replay) {
    return absl::AbortedError("precondition failed: a concurrent change came first");
  }
  if (witnesses.empty() || response.responses_size() != static_cast<int>(witnesses.size())) {
    return absl::UnavailableError(
        "etcd commit outcome unknown: an attempt failed in flight and its replay found the "
        "preconditions changed");
  }
  for (size_t i = 0; i < witnesses.size(); ++i) {
    const auto& kvs = response.responses(static_cast<int>(i)).response_range().kvs();
    std::optional<std::string> now;
    if (!kvs.empty()) now = kvs[0].value();
    if (now != witnesses[i].second) {
      return absl::AbortedError("precondition failed: a concurrent change came first");
    }
  }
  // Our first attempt was applied; its answer was lost.
  return absl::OkStatus();
}

class EtcdEngine::WatchFeed final : public ChangeFeed {
 public:
  WatchFeed(EtcdEngine& engine, std::string from, std::string to,
            std::function<void(const ChangeBatch&)> on_changes)
      : engine_(engine),
        from_(std::move(from)),
        to_(std::move(to)),
        on_changes_(std::move(on_changes)),
        thread_([this] { Run(); }) {}

  ~WatchFeed() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (context_) context_->TryCancel();
    }
    wake_.notify_all();
    thread_.join();
  }

  bool WaitCreated(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return wake_.wait_for(lock, timeout, [this] { return created_ || stopping_; }) && created_;
  }

 private:
  void Run() {
    int64_t next_revision = 0;  // 0: from now.
    bool resync = false;
    size_t index = engine_.preferred_.load(std::memory_order_relaxed) % engine_.members_.size();
    auto backoff = kFirstBackoff;
    while (true) {
      grpc::ClientContext context;
      // Without a leader the member could not tell us of new writes: etcd
      // ends such a watch instead of leaving it silent.
      context.AddMetadata("hasleader", "true");
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        context_ = &context;
      }
      auto stub = etcdserverpb::Watch::NewStub(engine_.members_[index]->channel);
      auto stream = stub->Watch(&context);
      etcdserverpb::WatchRequest request;
      etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
      create->set_key(from_);
      create->set_range_end(to_);
      create->set_start_revision(next_revision);
      etcdserverpb::WatchResponse response;
      if (stream->Write(request)) {
        while (stream->Read(&response)) {
          if (response.created()) {
            if (next_revision == 0) next_revision = response.header().revision() + 1;
            std::lock_guard lock(mu_);
            created_ = true;
            wake_.notify_all();
            backoff = kFirstBackoff;
          }
          if (response.compact_revision() != 0) {
            // The revision to resume from is gone: start over from now.
            resync = true;
            next_revision = 0;
            break;
          }
          if (response.canceled()) break;
          ChangeBatch batch;
          for (const auto& event : response.events()) {
            std::optional<std::string> value;
            if (event.type() == mvccpb::Event::PUT) value = event.kv().value();
            batch.changes.emplace_back(event.kv().key(), std::move(value));
            next_revision = event.kv().mod_revision() + 1;
          }
          if (!batch.changes.empty()) {
            batch.resync = std::exchange(resync, false);
            on_changes_(batch);
          }
        }
      }
      context.TryCancel();
      stream->Finish().IgnoreError();
      std::unique_lock lock(mu_);
      context_ = nullptr;
      if (stopping_) return;
      index = (index + 1) % engine_.members_.size();
      wake_.wait_for(lock, backoff, [this] { return stopping_; });
      backoff =
          std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
  }

  EtcdEngine& engine_;
  const std::string from_, to_;
  const std::function<void(const ChangeBatch&)> on_changes_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  bool created_ = false;                    // GUARDED_BY(mu_)
  grpc::ClientContext* context_ = nullptr;  // GUARDED_BY(mu_)
  std::thread thread_;                      // Last: starts after the members above exist.
};

absl::StatusOr<std::unique_ptr<ChangeFeed>> EtcdEngine::Subscribe(
    std::string from, std::string to, std::function<void(const ChangeBatch&)> on_changes) {
  auto feed =
      std::make_unique<WatchFeed>(*this, std::move(from), std::move(to), std::move(on_changes));
  feed->WaitCreated(options_.attempt_timeout);
  return std::unique_ptr<ChangeFeed>(std::move(feed));
}

}  // namespace midwife::statestore
