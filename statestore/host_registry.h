#ifndef MIDWIFE_STATESTORE_HOST_REGISTRY_H_
#define MIDWIFE_STATESTORE_HOST_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "core/mac_address.h"
#include "proto/hostregistry.pb.h"
#include "statestore/bank_state.h"
#include "statestore/host_rules.h"
#include "statestore/storage_engine.h"

namespace midwife::statestore {

// Aliases one host may have (a NIC per port is 2-4 in practice).
inline constexpr int kMaxAliasesPerHost = 16;
// Longest BootRequest.boot_id accepted.
inline constexpr size_t kMaxBootIdBytes = 64;

struct HostRegistryOptions {
  BankPolicy banks;
  // Clock seam for tests; defaults to the system clock.
  std::function<int64_t()> now_unix_ms;
};

struct HostRecordPage {
  std::vector<v1::HostRecord> hosts;  // Without events.
  std::string next_page_token;
};

// The host registry's logic, free of gRPC: host records (banks, facts,
// history), aliases and rules over a StorageEngine (layout:
// statestore/key_layout.h). Every change to a host is one read-modify-write
// of its r/<mac> entry under compare-and-set, retried on ABORTED; the bank
// transitions themselves are the pure functions of bank_state.h.
//
// Every MAC argument may be an alias; the record of its primary is used.
// Thread-safe. The compiled rules are cached: a boot that consulted them
// commits only if the stored rules are still the ones it used, so a change
// made through another frontend costs one extra read, never a stale answer.
class HostRegistry {
 public:
  // `engine` must outlive this object.
  HostRegistry(StorageEngine& engine, HostRegistryOptions options);

  // One boot (see PlanBoot): one Get of the host's entry (two through an
  // alias) and one Commit, the rules read only when the cache is stale.
  // Facts are merged (unset fields keep their value; long strings cut) and
  // rules match against the primary MAC. A non-empty `boot_id` equal to the
  // host's last one returns that boot's decision and changes nothing.
  // host_token is left empty (the caller holds the secret).
  // INVALID_ARGUMENT for a boot_id over kMaxBootIdBytes.
  absl::StatusOr<v1::BootDecision> BeginBoot(const MacAddress& mac, const v1::HostFacts& facts,
                                             const std::string& boot_id);
  struct BootItem {
    MacAddress mac;
    v1::HostFacts facts;
    std::string boot_id;
  };
  // BeginBoot for each item, answered in order, each as BeginBoot would
  // answer it alone. The boots of distinct hosts are written together, in
  // as few Commits as the engine's limits allow (one, for a storm's batch on
  // RocksDB): a durable write and its fsync shared by the whole batch. A
  // commit that loses a race, and a second boot of a host already in the
  // batch, go one by one afterwards.
  std::vector<absl::StatusOr<v1::BootDecision>> BeginBoots(const std::vector<BootItem>& items);
  // NOT_FOUND for a host never seen or assigned. Non-empty `phases` (the
  // boot's timeline) is recorded as a PHASES event after the report's, in
  // the same commit.
  absl::StatusOr<v1::HostRecord> ReportBirth(const MacAddress& mac, const BirthReport& report,
                                             const std::string& address,
                                             const std::string& phases = "");
  // Creates the record if needed. INVALID_ARGUMENT for a malformed image.
  absl::StatusOr<v1::HostRecord> Assign(const MacAddress& mac, const std::string& image);
  absl::StatusOr<v1::HostRecord> Unassign(const MacAddress& mac);
  absl::StatusOr<v1::HostRecord> Rollback(const MacAddress& mac);
  // Makes `alias` stand for `mac`'s host (creating its record if needed).
  // A record `alias` already has is replaced only if it holds no image and
  // no aliases (a NIC that booted before it was known); otherwise, or if
  // `alias` stands for another host, FAILED_PRECONDITION. Idempotent.
  absl::StatusOr<v1::HostRecord> AddAlias(const MacAddress& mac, const MacAddress& alias);
  absl::StatusOr<v1::HostRecord> GetHost(const MacAddress& mac);
  // By primary MAC; page_size 0: 100, at most 1000.
  absl::StatusOr<HostRecordPage> ListHosts(uint32_t page_size, const std::string& page_token);
  // Newest first; `limit` 0: all kept.
  absl::StatusOr<std::vector<v1::HostEvent>> ListEvents(const MacAddress& mac, uint32_t limit);
  // Replaces the rules (validated as HostRules::Compile does). ABORTED if
  // `expected_generation` is given and is not the stored one.
  absl::StatusOr<v1::RuleSet> SetRules(const v1::RuleSet& rules,
                                       std::optional<uint64_t> expected_generation);
  absl::StatusOr<v1::RuleSet> GetRules();
  // Appends an event the boot server observed (HOOK or PHASES) to a known
  // host's history. INVALID_ARGUMENT for other kinds, NOT_FOUND for an
  // unknown host.
  absl::StatusOr<v1::HostRecord> RecordEvent(const MacAddress& mac,
                                             const v1::RecordEventRequest& event);

 private:
  struct LoadedHost;
  struct PlannedBoot;
  struct RulesSnapshot {
    std::optional<std::string> raw;  // As stored: the precondition of a boot using them.
    HostRules rules;
  };
  using Change = std::function<absl::Status(v1::HostRecord&, const Moment&)>;

  absl::StatusOr<LoadedHost> Load(const MacAddress& mac);
  // Read-modify-write of one host; NOT_FOUND if absent and !create.
  absl::StatusOr<v1::HostRecord> Mutate(const MacAddress& mac, bool create,
                                        const std::string& address, const Change& change);
  // Writes `record` (its revision set to the loaded one's plus one) if the
  // host's entry is still `host.raw`; ABORTED otherwise.
  absl::Status Commit(const LoadedHost& host, v1::HostRecord& record,
                      std::vector<Precondition> preconditions, WriteBatch batch);
  // What Commit would write, added to `preconditions` and `batch` instead.
  void AddWrite(const LoadedHost& host, v1::HostRecord& record,
                std::vector<Precondition>& preconditions, WriteBatch& batch) const;
  // A boot's decision and the write that records it, nothing written yet.
  absl::StatusOr<PlannedBoot> PlanOneBoot(const MacAddress& mac, const v1::HostFacts& facts,
                                          const std::string& boot_id, bool refresh_rules);
  absl::StatusOr<std::shared_ptr<const RulesSnapshot>> Rules(bool refresh);
  int64_t Now() const;

  StorageEngine& engine_;
  HostRegistryOptions options_;
  std::mutex mu_;
  // Shared so a boot keeps its snapshot while SetRules installs a new one.
  std::shared_ptr<const RulesSnapshot> rules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_HOST_REGISTRY_H_
