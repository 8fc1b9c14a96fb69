#ifndef MIDWIFE_STATESTORE_BOOT_BATCHER_H_
#define MIDWIFE_STATESTORE_BOOT_BATCHER_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/hostregistry.pb.h"
#include "statestore/host_registry_client.h"

namespace midwife::statestore {

// Coalesces concurrent BeginBoot calls into BeginBoots round trips, as a
// database coalesces commits: while one round trip is under way, the boots
// that arrive wait, and go together in the next. There is no timer, so a
// lone boot goes at once (as a plain BeginBoot) and a storm of hosts costs
// the store a round trip and a durable write per batch, not per host.
//
// Each caller gets the answer BeginBoot would have given it. A store too old
// for BeginBoots answers UNIMPLEMENTED once; from then on every boot goes
// alone. Thread-safe; `client` must outlive the batcher.
class BootBatcher {
 public:
  explicit BootBatcher(HostRegistryClient& client, size_t max_batch = 64);

  // Blocks until this boot's answer is in. An empty boot_id is filled by
  // the client, before the first attempt: a retried batch replays its boots
  // instead of booting them twice.
  absl::StatusOr<v1::BootDecision> BeginBoot(v1::BootRequest request);

  // Round trips made for batches of two or more boots.
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  struct Waiter {
    v1::BootRequest request;
    std::optional<absl::StatusOr<v1::BootDecision>> answer;  // Guarded by mu_.
    std::condition_variable wake;
  };

  // Sends `batch` (reading only the requests, which do not change while
  // queued) and returns the answers in order; called without mu_.
  std::vector<absl::StatusOr<v1::BootDecision>> Send(const std::vector<Waiter*>& batch);

  HostRegistryClient& client_;
  const size_t max_batch_;
  std::mutex mu_;
  std::deque<Waiter*> queue_;  // Guarded by mu_.
  bool in_flight_ = false;     // Guarded by mu_: a caller is sending a batch.
  std::atomic<bool> unsupported_{false};
  std::atomic<uint64_t> batches_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_BOOT_BATCHER_H_
