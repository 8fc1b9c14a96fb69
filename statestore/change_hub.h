#ifndef MIDWIFE_STATESTORE_CHANGE_HUB_H_
#define MIDWIFE_STATESTORE_CHANGE_HUB_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "proto/statestore.pb.h"
#include "statestore/storage_engine.h"

namespace midwife::statestore {

// Relays the engine's change feed over the keys watchers care about (host
// heads, host registry records, rules) as v1::Change messages to every
// WatchChanges stream of this frontend. With etcd the feed is an etcd watch,
// so changes made through other frontends arrive too.
//
// Each watcher has a queue of at most kMaxQueued changes; one that falls
// further behind loses its queue and gets a RESYNC instead, so a slow watcher
// never holds up commits or other watchers.
//
// Thread-safety: all methods may be called concurrently.
class ChangeHub {
 public:
  static constexpr size_t kMaxQueued = 4096;

  class Watcher {
   public:
    ~Watcher();
    // The next change, waiting at most `timeout`; nullopt if none came. The
    // first is always RESYNC.
    std::optional<v1::Change> Next(std::chrono::milliseconds timeout);

   private:
    friend class ChangeHub;
    explicit Watcher(ChangeHub& hub) : hub_(hub) {}
    ChangeHub& hub_;
    std::deque<v1::Change> queue_;  // GUARDED_BY(hub_.mu_)
  };

  // Subscribes to `engine`, which must outlive the hub. An engine without a
  // feed leaves watchers with their first RESYNC only (logged at start).
  explicit ChangeHub(StorageEngine& engine);
  ~ChangeHub();

  std::unique_ptr<Watcher> Watch();

  // Ends every watch (Next returns nullopt at once from now on): called when
  // the server stops, so open streams do not hold up its drain.
  void Close();
  bool closed() const;

  // The Change a committed write of `key` (nullopt value: a delete) means to
  // watchers; nullopt for keys they do not care about. Pure.
  static std::optional<v1::Change> ToChange(const std::string& key,
                                            const std::optional<std::string>& value);

 private:
  void Deliver(const ChangeBatch& batch);

  mutable std::mutex mu_;
  std::condition_variable arrived_;
  bool closed_ = false;          // GUARDED_BY(mu_)
  std::set<Watcher*> watchers_;  // GUARDED_BY(mu_)
  // Last: destroyed first, so no callback runs into a half-destroyed hub.
  std::unique_ptr<ChangeFeed> feed_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_CHANGE_HUB_H_
