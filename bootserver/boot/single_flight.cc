#include "bootserver/boot/single_flight.h"

#include "absl/strings/str_cat.h"

namespace midwife::bootserver {

SingleFlight::Outcome SingleFlight::Do(const std::string& key, std::chrono::milliseconds max_wait,
                                       const std::function<absl::Status()>& call) {
  std::shared_ptr<Call> running;
  {
    std::unique_lock lock(mu_);
    auto [it, fresh] = calls_.try_emplace(key, nullptr);
    if (!fresh) {
      running = it->second;
      if (!done_.wait_for(lock, max_wait, [&] { return running->done; })) {
        return {absl::DeadlineExceededError(absl::StrCat(
                    "waited ", max_wait.count(), " ms for another request's fetch of ", key)),
                false};
      }
      return {running->status, false};
    }
    it->second = running = std::make_shared<Call>();
  }
  absl::Status status = call();
  {
    std::lock_guard lock(mu_);
    running->done = true;
    running->status = status;
    calls_.erase(key);
  }
  done_.notify_all();
  return {std::move(status), true};
}

size_t SingleFlight::in_flight() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

}  // namespace midwife::bootserver
