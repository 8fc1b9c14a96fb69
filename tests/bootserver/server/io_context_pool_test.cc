// IoContextPool against a real descriptor shortage (DescriptorShortage).
#include "bootserver/server/io_context_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
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

}  // namespace
}  // namespace midwife::bootserver
