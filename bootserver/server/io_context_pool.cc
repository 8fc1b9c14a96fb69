#include "bootserver/server/io_context_pool.h"

#include <sched.h>

#include <boost/asio/steady_timer.hpp>

#include "bootserver/server/idle_spin_policy.h"

namespace midwife::bootserver {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `context` until it is stopped or out of work. Between bursts of work
// the thread may spin for a while (see IdleSpinPolicy): each turn yields the
// core to whatever else is runnable there (often the very client whose
// packet it waits for), then polls the context without sleeping.
void RunContext(boost::asio::io_context& context, std::chrono::microseconds idle_spin) {
  if (idle_spin <= std::chrono::microseconds::zero()) {
    context.run();
    return;
  }
  IdleSpinPolicy policy(idle_spin);
  while (!context.stopped()) {
    if (context.poll() > 0) continue;
    if (context.stopped()) return;
    const auto idle_since = Clock::now();
    const auto spin_until = idle_since + policy.Budget();
    bool found_work = false;
    while (!found_work && Clock::now() < spin_until) {
      sched_yield();
      found_work = context.poll() > 0;
    }
    if (!found_work && context.run_one() == 0) return;
    policy.OnIdleGap(Clock::now() - idle_since);
  }
}

}  // namespace

IoContextPool::IoContextPool(int size, std::chrono::microseconds idle_spin) {
  for (int i = 0; i < std::max(1, size); ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    boost::asio::steady_timer make_reactor(*contexts_.back());
    guards_.push_back(boost::asio::make_work_guard(*contexts_.back()));
  }
  for (auto& context : contexts_) {
    threads_.emplace_back([c = context.get(), idle_spin] { RunContext(*c, idle_spin); });
  }
}

void IoContextPool::Stop() {
  guards_.clear();
  for (auto& context : contexts_) context->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace midwife::bootserver
