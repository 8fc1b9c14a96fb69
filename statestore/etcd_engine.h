#ifndef MIDWIFE_STATESTORE_ETCD_ENGINE_H_
#define MIDWIFE_STATESTORE_ETCD_ENGINE_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "statestore/storage_engine.h"

namespace grpc {
class Status;
class ClientContext;
}  // namespace grpc

namespace midwife::statestore {

// etcd's own defaults for --max-request-bytes and --max-txn-ops (v3.4).
inline constexpr size_t kEtcdDefaultMaxRequestBytes = 1572864;
inline constexpr size_t kEtcdDefaultMaxTxnOps = 128;

struct EtcdEngineOptions {
  // "host:port" of each member's client URL; at least one.
  std::vector<std::string> endpoints;
  // TLS to etcd: with `ca_file` the channel is TLS and the members'
  // certificates must chain to it; `cert_file` and `key_file` (together) add
  // a client certificate for etcd's --client-cert-auth. All empty: plaintext.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // One attempt against one member (flag --etcd-timeout-ms).
  std::chrono::milliseconds attempt_timeout{5000};
  // One engine call, across every member and retry: a leader election takes
  // a second or two, so this spans several (flag --etcd-call-timeout-ms).
  std::chrono::milliseconds call_timeout{30000};
  // Must not exceed the cluster's own --max-request-bytes and --max-txn-ops
  // (flags --etcd-max-request-bytes, --etcd-max-txn-ops).
  size_t max_request_bytes = kEtcdDefaultMaxRequestBytes;
  size_t max_txn_ops = kEtcdDefaultMaxTxnOps;
};

// The storage engine over an etcd v3 cluster (gRPC), for any number of
// stateless state store frontends sharing one cluster.
//
// Mapping: Get is a linearizable Range of one key; Scan a Range over
// [max(prefix, start_after+"\0"), prefix+1) sorted by key, paged at a fixed
// revision so one Scan sees one snapshot; Commit one Txn whose compares are
// the preconditions (value equal; absent: create_revision == 0; any value:
// create_revision > 0) and whose success ops are the puts and deletes. etcd
// applies a Txn only after a quorum has it in its fsynced WAL, so OK means
// durable. A failed compare is ABORTED; etcd's "database space exceeded" is
// RESOURCE_EXHAUSTED.
//
// Size: etcd refuses a request above --max-request-bytes (1.5 MiB default)
// or with more than --max-txn-ops compares or ops (128). Limits() states
// both (less a margin for framing) and Commit refuses larger batches with
// INVALID_ARGUMENT before sending. Splitting a large write is NOT done here
// but in BackupStore, which alone knows which keys are unreferenced until a
// final commit (archive chunks, before the version record and head that name
// them) and so can be written ahead without readers ever seeing half a
// version. An engine-level split could not tell such keys from keys a reader
// already follows, nor keep two frontends writing the same (host, version)
// apart: BackupStore does that by claiming the version number on the head
// first. See BackupStore::StagedBackup.
//
// Failover: each call goes to the member that last answered; on UNAVAILABLE,
// DEADLINE_EXCEEDED or etcd's "too many requests" it tries the next member,
// then backs off and goes round again until call_timeout. Every attempt has
// its own deadline (attempt_timeout).
//
// Replayed commits: a Txn that failed with UNAVAILABLE or DEADLINE_EXCEEDED
// may have been applied all the same (the leader committed it and the answer
// was lost). Every caller's commit carries a compare-and-set precondition on
// a key it also writes (the host's head record, the host registry entry,
// the rules, a chunk key that must be absent), so a replay of an applied Txn
// fails its compare instead of applying twice. The replay then reads those
// keys in the Txn's failure branch, atomically with the compare: if each
// already holds exactly what the batch writes there (a head record holds a
// timestamp and version list, so it is this commit's own), the first attempt
// was applied and Commit returns OK. Otherwise it is a conflict: ABORTED
// (also, rarely, when ours was applied and another writer changed those keys
// again before the replay; the caller then retries or reports a conflict,
// and nothing is lost or written twice). A batch writing none of its precondition keys cannot be told
// apart, and then Commit returns UNAVAILABLE ("outcome unknown"), which the
// client library retries as a whole; BackupStore makes that retry idempotent
// (an archive identical to the newest version is not stored again).
//
// Thread-safety: every method may be called concurrently; one gRPC channel
// per member is shared by all calls.
class EtcdEngine final : public StorageEngine {
 public:
  // Reads the TLS files and opens channels; does not contact the cluster.
  static absl::StatusOr<std::unique_ptr<EtcdEngine>> Connect(const EtcdEngineOptions& options);
  ~EtcdEngine() override;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                             size_t limit) override;
  absl::StatusOr<std::vector<std::string>> ScanKeys(std::string_view prefix,
                                                    std::string_view start_after,
                                                    size_t limit) override;
  absl::Status Commit(const std::vector<Precondition>& preconditions,
                      const WriteBatch& batch) override;
  CommitLimits Limits() const override;
  // An etcd watch over [from, to) on one member at a time (with etcd's
  // "hasleader" requirement, so a member cut off from the quorum ends it);
  // when the stream breaks it resumes on the next member from the revision
  // after the last event seen, so nothing is missed unless etcd compacted
  // that revision away: then the next batch has `resync` set. Returns once
  // the first watch is created, or after attempt_timeout (still retrying),
  // so a frontend started while etcd is down is not held up long.
  absl::StatusOr<std::unique_ptr<ChangeFeed>> Subscribe(
      std::string from, std::string to,
      std::function<void(const ChangeBatch&)> on_changes) override;

 private:
  struct Member;
  class WatchFeed;
  explicit EtcdEngine(EtcdEngineOptions options, std::vector<std::unique_ptr<Member>> members);

  // Runs `attempt` against the members in turn as described above. Sets
  // *maybe_applied when an attempt failed in a way that leaves a write's
  // outcome unknown.
  grpc::Status Invoke(const std::function<grpc::Status(Member&, grpc::ClientContext&)>& attempt,
                      bool* maybe_applied);
  absl::StatusOr<std::vector<KeyValue>> RangeAll(std::string_view prefix,
                                                 std::string_view start_after, size_t limit,
                                                 bool keys_only);

  EtcdEngineOptions options_;
  std::vector<std::unique_ptr<Member>> members_;
  // Index of the member that answered last; calls start there.
  std::atomic<size_t> preferred_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_ETCD_ENGINE_H_
