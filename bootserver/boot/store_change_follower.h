#ifndef MIDWIFE_BOOTSERVER_BOOT_STORE_CHANGE_FOLLOWER_H_
#define MIDWIFE_BOOTSERVER_BOOT_STORE_CHANGE_FOLLOWER_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "bootserver/boot/boot_service.h"
#include "statestore/client.h"
#include "statestore/host_registry_client.h"

namespace midwife::bootserver {

struct StoreChangeFollowerOptions {
  // The state store, with its admin token (WatchChanges asks for it). The
  // follower opens channels of its own: its stream and reads never queue
  // behind a boot's calls, and are not counted as a boot's round trips.
  statestore::ClientOptions store;
  // Waits between attempts to open the stream when one fails without ever
  // opening, doubling from the first to the last (as the store clients'
  // reconnects). An unreachable store does not fail the attempt: it waits
  // for the store (StateStoreClient::WatchChanges), on gRPC's reconnect
  // backoff, which is as short.
  std::chrono::milliseconds first_backoff{100};
  std::chrono::milliseconds max_backoff{1000};
  // How long a host's record read (a change that did not carry the record:
  // an alias, an older store) waits for more changes of that record: one
  // boot changes it several times within moments (BeginBoot, the birth
  // report, its phases, the hook's event), and one read after them all
  // does. Short beside the time between a change and an outage that would
  // make it matter.
  std::chrono::milliseconds record_settle{500};
};

// Keeps a BootService's caches right by following the state store's change
// feed (StateStore.WatchChanges; with the etcd engine it carries changes made
// through every frontend): each change goes to
// BootService::ApplyStoreChange, and the reads it leaves to do (a new
// backup to fetch, a record or head to check) run on a second thread, so
// the stream is read while a backup is fetched. When the store goes away the
// stream is opened again with backoff; the store starts each stream with a
// RESYNC, which has every cached host checked again (tested: a store back
// at its address after an outage is watched again within a second).
//
// Follow-ups wait in a queue that keeps one of each (kind, MAC): a host
// whose head moves ten times while one fetch runs is fetched once more, not
// ten times, and the queue is bounded by the hosts the service caches.
// Thread-safety: Stop may be called from any thread, once or more.
class StoreChangeFollower {
 public:
  // Connects (lazily: a store that is down now is retried) and starts both
  // threads. `service` must outlive the follower.
  static absl::StatusOr<std::unique_ptr<StoreChangeFollower>> Start(
      StoreChangeFollowerOptions options, BootService& service);
  // Stops.
  ~StoreChangeFollower();
  // Ends the stream and the follow-ups (one in flight is waited for, within
  // the store clients' deadline) and joins both threads.
  void Stop();

 private:
  StoreChangeFollower(StoreChangeFollowerOptions options, BootService& service,
                      std::unique_ptr<statestore::StateStoreClient> store,
                      std::unique_ptr<statestore::HostRegistryClient> registry);
  void WatchLoop();
  void FollowUpLoop();
  void Enqueue(StoreFollowUp follow_up);
  void Run(const StoreFollowUp& follow_up);
  // Waits `duration` or until Stop; false once stopping.
  bool Pause(std::chrono::milliseconds duration);

  const StoreChangeFollowerOptions options_;
  BootService& service_;
  std::unique_ptr<statestore::StateStoreClient> store_;
  std::unique_ptr<statestore::HostRegistryClient> registry_;
  statestore::WatchCanceller canceller_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                                           // GUARDED_BY(mu_)
  using FollowUpKey = std::pair<StoreFollowUp::Kind, std::string>;  // kind, MAC
  std::map<FollowUpKey, StoreFollowUp> pending_;                    // GUARDED_BY(mu_)
  // Record checks, by when they may run (record_settle after their first
  // change; FIFO is their time order).
  std::deque<std::pair<std::chrono::steady_clock::time_point, FollowUpKey>>
      settling_;                              // GUARDED_BY(mu_)
  std::deque<FollowUpKey> order_;             // GUARDED_BY(mu_); pending_'s keys, oldest first
  std::optional<uint64_t> rules_generation_;  // follow-up thread only

  // Last: they run on the members above.
  std::thread watch_thread_;
  std::thread follow_up_thread_;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_STORE_CHANGE_FOLLOWER_H_
