#include "statestore/boot_batcher.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace midwife::statestore {

BootBatcher::BootBatcher(HostRegistryClient& client, size_t max_batch)
    : client_(client), max_batch_(std::max<size_t>(1, max_batch)) {}

absl::StatusOr<v1::BootDecision> BootBatcher::BeginBoot(v1::BootRequest request) {
  if (unsupported_.load(std::memory_order_relaxed)) return client_.BeginBoot(std::move(request));
  Waiter me;
  me.request = std::move(request);
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  for (;;) {
    if (me.answer) return *std::move(me.answer);
    if (!in_flight_) {
      // This caller sends the next batch: whoever is queued, oldest first
      // (it may not hold this caller's own boot when more than a batch waits).
      in_flight_ = true;
      const size_t n = std::min(max_batch_, queue_.size());
      std::vector<Waiter*> batch(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      lock.unlock();
      std::vector<absl::StatusOr<v1::BootDecision>> answers = Send(batch);
      lock.lock();
      // Answers are handed over under the lock: a waiter reads its own only
      // under it, and is gone (its Waiter with it) once it has.
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->answer = std::move(answers[i]);
      in_flight_ = false;
      for (Waiter* w : batch) {
        if (w != &me) w->wake.notify_one();
      }
      // The oldest boot still waiting sends the next batch.
      if (!queue_.empty() && queue_.front() != &me) queue_.front()->wake.notify_one();
      continue;
    }
    me.wake.wait(lock);
  }
}

std::vector<absl::StatusOr<v1::BootDecision>> BootBatcher::Send(const std::vector<Waiter*>& batch) {
  std::vector<absl::StatusOr<v1::BootDecision>> answers;
  answers.reserve(batch.size());
  auto each_alone = [&] {
    for (const Waiter* w : batch) answers.push_back(client_.BeginBoot(w->request));
    return std::move(answers);
  };
  if (batch.size() == 1 || unsupported_.load(std::memory_order_relaxed)) return each_alone();
  v1::BootRequests requests;
  for (const Waiter* w : batch) *requests.add_requests() = w->request;
  absl::StatusOr<v1::BootOutcomes> outcomes = client_.BeginBoots(std::move(requests));
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (absl::IsUnimplemented(outcomes.status())) {
    // A store from before BeginBoots: this batch, and every boot from now
    // on, goes alone.
    unsupported_.store(true, std::memory_order_relaxed);
    return each_alone();
  }
  if (outcomes.ok() && outcomes->outcomes_size() != static_cast<int>(batch.size())) {
    outcomes = absl::InternalError(absl::StrCat("BeginBoots answered ", outcomes->outcomes_size(),
                                                " boots of ", batch.size()));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!outcomes.ok()) {
      answers.push_back(outcomes.status());
      continue;
    }
    v1::BootOutcome& outcome = *outcomes->mutable_outcomes(static_cast<int>(i));
    if (outcome.code() == 0) {
      answers.push_back(std::move(*outcome.mutable_decision()));
    } else {
      answers.push_back(
          absl::Status(static_cast<absl::StatusCode>(outcome.code()), outcome.message()));
    }
  }
  return answers;
}

}  // namespace midwife::statestore
