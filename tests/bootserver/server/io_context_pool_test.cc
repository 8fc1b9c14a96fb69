// IoContextPool: its contexts under a real descriptor shortage
// (DescriptorShortage), and its threads' spin between bursts of work.
#include "bootserver/server/io_context_pool.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/descriptor_shortage.h"

namespace midwife::bootserver {
namespace {

using tcp = boost::asio::ip::tcp;

// The daemon hands accepted connections and TFTP transfers to contexts it
// has not used yet; during a shortage that must cost the one connection
// (the accept fails with EMFILE and is retried), not end the process.
TEST(IoContextPoolTest, EveryContextTakesASocketObjectWhenNoDescriptorIsLeft) {
  IoContextPool pool(3);
  // UBSan checks the dynamic type of Asio's services on lookup, and the
  // first check of a type probes memory through a pipe: done once here on a
  // context of the test's own, it needs no descriptor under the shortage.
  boost::asio::io_context elsewhere;
  tcp::socket checked_once(elsewhere);
  midwife::testing::DescriptorShortage shortage;
  ASSERT_TRUE(shortage.active());
  const int one_more = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (one_more >= 0) ::close(one_more);
  ASSERT_LT(one_more, 0) << "the shortage is not real: the test proves nothing";
  for (int i = 0; i < 3; ++i) {
    EXPECT_NO_THROW({ tcp::socket unopened(pool.Next()); }) << "context " << i;
  }
}

TEST(IoContextPoolTest, HandsOutEachContextInTurnAndRunsItsWork) {
  IoContextPool pool(2);
  std::set<std::thread::id> threads;
  for (int i = 0; i < 4; ++i) {
    std::promise<std::thread::id> ran;
    boost::asio::post(pool.Next(), [&ran] { ran.set_value(std::this_thread::get_id()); });
    threads.insert(ran.get_future().get());
  }
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Lock-step work: each handler posts the next, after a short pause, as a
// transfer's ACK comes back. A spinning pool must still run every one.
TEST(IoContextPoolTest, SpinningPoolRunsWorkThatArrivesInShortAndLongGaps) {
  IoContextPool pool(2, std::chrono::microseconds(50));
  for (auto gap : {std::chrono::microseconds(5), std::chrono::microseconds(2000)}) {
    auto executor = pool.Next();
    std::promise<int> done;
    int rounds = 0;
    boost::asio::steady_timer timer(executor);
    std::function<void()> step = [&] {
      if (++rounds == 50) {
        done.set_value(rounds);
        return;
      }
      timer.expires_after(gap);
      timer.async_wait([&](boost::system::error_code) { step(); });
    };
    boost::asio::post(executor, step);
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready)
        << "gap " << gap.count() << " us";
    EXPECT_EQ(future.get(), 50);
  }
}

// Spinning is for gaps shorter than the spin: a pool left idle must go to
// sleep, not hold a core, and must stop at once when asked.
TEST(IoContextPoolTest, IdleSpinningPoolSleepsAndStopsPromptly) {
  auto pool = std::make_unique<IoContextPool>(2, std::chrono::microseconds(200));
  for (int i = 0; i < 20; ++i) {
    std::promise<void> ran;
    boost::asio::post(pool->Next(), [&ran] { ran.set_value(); });
    ran.get_future().get();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the last spins end
  const double before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double idle_cpu = ProcessCpuSeconds() - before;
  // Two threads spinning through it would spend 1 s; asleep, next to none.
  EXPECT_LT(idle_cpu, 0.1) << "an idle pool kept spinning";
  const auto stop_started = std::chrono::steady_clock::now();
  pool.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(2));
}

}  // namespace
}  // namespace midwife::bootserver
