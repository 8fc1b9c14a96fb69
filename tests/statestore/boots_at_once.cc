#include "tests/statestore/boots_at_once.h"

#include <atomic>
#include <thread>

namespace midwife::statestore::testing {

std::vector<absl::StatusOr<v1::BootDecision>> BootAtOnce(BootBatcher& batcher,
                                                         const std::vector<std::string>& macs) {
  const int hosts = static_cast<int>(macs.size());
  std::vector<absl::StatusOr<v1::BootDecision>> answers(macs.size(), absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < hosts; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < hosts) std::this_thread::yield();
      v1::BootRequest request;
      request.set_mac(macs[i]);
      request.mutable_facts()->set_address("10.0.0.5");
      answers[i] = batcher.BeginBoot(request);
    });
  }
  for (auto& t : threads) t.join();
  return answers;
}

}  // namespace midwife::statestore::testing
