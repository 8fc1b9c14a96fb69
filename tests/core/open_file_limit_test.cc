#include "core/open_file_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace midwife {
namespace {

TEST(RaiseOpenFileLimit, LiftsTheSoftLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max <= 64) GTEST_SKIP() << "hard limit too low to lower the soft one";
  rlimit lowered = before;
  lowered.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);

  const uint64_t now = RaiseOpenFileLimit();

  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(now, after.rlim_cur == RLIM_INFINITY ? UINT64_MAX : after.rlim_cur);
  ::setrlimit(RLIMIT_NOFILE, &before);
}

}  // namespace
}  // namespace midwife
