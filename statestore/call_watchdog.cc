#include "statestore/call_watchdog.h"

#include "core/log.h"

namespace midwife::statestore {

CallWatchdog::CallWatchdog(std::chrono::milliseconds max_call)
    : max_call_(max_call), thread_([this] { Run(); }) {}

CallWatchdog::~CallWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

CallWatchdog::Guard::Guard(CallWatchdog& watchdog, grpc::ServerContextBase* context)
    : watchdog_(watchdog) {
  std::lock_guard lock(watchdog_.mu_);
  id_ = watchdog_.next_id_++;
  watchdog_.calls_.emplace(id_, std::pair{std::chrono::steady_clock::now() + watchdog_.max_call_, context});
  watchdog_.changed_.notify_all();
}

CallWatchdog::Guard::~Guard() {
  std::lock_guard lock(watchdog_.mu_);
  watchdog_.calls_.erase(id_);
}

void CallWatchdog::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (calls_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto first = calls_.begin();
    // A copy: while this thread waits, the call may end and its guard erase
    // the entry the deadline lives in.
    const std::chrono::steady_clock::time_point deadline = first->second.first;
    if (std::chrono::steady_clock::now() < deadline) {
      changed_.wait_until(lock, deadline);
      continue;
    }
    // TryCancel makes the blocked Read() return; the handler then ends and
    // its guard removes the entry. Erase now so it is cancelled once.
    first->second.second->TryCancel();
    calls_.erase(first);
    LogEvent("call.cancelled", {{"reason", "longer than the call limit"},
                                {"limit_ms", std::to_string(max_call_.count())}});
  }
}

}  // namespace midwife::statestore
