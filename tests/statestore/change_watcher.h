#ifndef MIDWIFE_TESTS_STATESTORE_CHANGE_WATCHER_H_
#define MIDWIFE_TESTS_STATESTORE_CHANGE_WATCHER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "statestore/client.h"

namespace midwife::statestore::testing {

// A WatchChanges stream read on a thread of its own, collecting every change,
// for tests. The destructor ends the stream.
class ChangeWatcher {
 public:
  // `client` must outlive the watcher.
  explicit ChangeWatcher(StateStoreClient& client)
      : thread_([this, &client] {
          client
              .WatchChanges(
                  [this](const v1::Change& change) {
                    std::lock_guard lock(mu_);
                    changes_.push_back(change);
                    arrived_.notify_all();
                    return true;
                  },
                  &canceller_)
              .IgnoreError();
        }) {}
  ~ChangeWatcher() {
    canceller_.Cancel();
    thread_.join();
  }

  // Waits (bounded) until some change collected so far satisfies `match`.
  bool WaitFor(const std::function<bool(const v1::Change&)>& match,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return arrived_.wait_for(lock, timeout, [&] {
      for (const auto& c : changes_) {
        if (match(c)) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<v1::Change> changes_;
  WatchCanceller canceller_;
  std::thread thread_;  // Last: runs on the members above.
};

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_CHANGE_WATCHER_H_
