#ifndef MIDWIFE_BOOTSERVER_BOOT_SINGLE_FLIGHT_H_
#define MIDWIFE_BOOTSERVER_BOOT_SINGLE_FLIGHT_H_

// One call per key at a time. A caller asking for a key while a call for it
// is under way does not make its own: it waits (bounded) for that call and
// gets its outcome. So a boot storm asking for one missing blob makes one
// upstream fetch, not one per host.
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace midwife::bootserver {

class SingleFlight {
 public:
  struct Outcome {
    absl::Status status;
    bool led = false;  // this caller ran `call`; else it waited for another's
  };

  // Runs `call` unless a call for `key` is under way; then waits for that one
  // up to `max_wait` (DEADLINE_EXCEEDED after it) and returns its status.
  // `call` runs on the calling thread, without any lock held.
  Outcome Do(const std::string& key, std::chrono::milliseconds max_wait,
             const std::function<absl::Status()>& call);

  // Calls under way now (for tests and metrics).
  size_t in_flight() const;

 private:
  struct Call {
    bool done = false;
    absl::Status status;
  };
  mutable std::mutex mu_;
  std::condition_variable done_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // by key, while under way
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_SINGLE_FLIGHT_H_
