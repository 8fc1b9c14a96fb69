#include "bootserver/server/idle_spin_policy.h"

#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

using std::chrono::microseconds;
constexpr microseconds kLongest{50};
constexpr microseconds kPrompt{10};  // an ACK on loopback
constexpr microseconds kLate{400};   // a ROM across a routed network

TEST(IdleSpinPolicyTest, SpinsForTheWholeBudgetFromTheStart) {
  IdleSpinPolicy policy(kLongest);
  EXPECT_EQ(policy.Budget(), kLongest);
}

TEST(IdleSpinPolicyTest, ZeroNeverSpinsWhateverTheGaps) {
  IdleSpinPolicy policy(microseconds(0));
  EXPECT_EQ(policy.Budget(), microseconds(0));
  for (int i = 0; i < 20; ++i) policy.OnIdleGap(kPrompt);
  EXPECT_EQ(policy.Budget(), microseconds(0));
}

TEST(IdleSpinPolicyTest, SixLongGapsInARowTurnSpinningOffFiveDoNot) {
  IdleSpinPolicy policy(kLongest);
  for (int i = 0; i < 5; ++i) policy.OnIdleGap(kLate);
  EXPECT_EQ(policy.Budget(), kLongest) << "share " << policy.short_gap_share();
  policy.OnIdleGap(kLate);
  EXPECT_EQ(policy.Budget(), microseconds(0)) << "share " << policy.short_gap_share();
}

TEST(IdleSpinPolicyTest, ShortGapsTurnSpinningBackOnAfterAnIdleSpell) {
  IdleSpinPolicy policy(kLongest);
  for (int i = 0; i < 100; ++i) policy.OnIdleGap(std::chrono::seconds(1));  // an idle daemon
  ASSERT_EQ(policy.Budget(), microseconds(0));
  int gaps = 0;
  while (policy.Budget() == microseconds(0) && gaps < 100) {
    policy.OnIdleGap(kPrompt);  // a lock-step transfer starts; gaps slept through are short
    ++gaps;
  }
  EXPECT_EQ(policy.Budget(), kLongest);
  EXPECT_LE(gaps, 6);
}

// A mean would be pulled over the budget by one slow ACK in ten; the share
// of short gaps is not.
TEST(IdleSpinPolicyTest, AnOccasionalLateGapAmongPromptOnesKeepsSpinning) {
  IdleSpinPolicy policy(kLongest);
  for (int i = 0; i < 200; ++i) {
    policy.OnIdleGap(i % 10 == 9 ? std::chrono::milliseconds(5) : kPrompt);
    ASSERT_EQ(policy.Budget(), kLongest) << "after gap " << i;
  }
}

TEST(IdleSpinPolicyTest, GapsAsLongAsTheSpinCountAsLong) {
  IdleSpinPolicy policy(kLongest);
  for (int i = 0; i < 10; ++i) policy.OnIdleGap(kLongest);
  EXPECT_EQ(policy.Budget(), microseconds(0));
}

// Mostly long gaps with some short: the thread does not keep wasting spins
// that mostly miss.
TEST(IdleSpinPolicyTest, MostlyLateGapsKeepSpinningOff) {
  IdleSpinPolicy policy(kLongest);
  int spun = 0;
  for (int i = 0; i < 300; ++i) {
    if (policy.Budget() > microseconds(0)) ++spun;
    policy.OnIdleGap(i % 3 == 0 ? kPrompt : kLate);
  }
  EXPECT_LT(spun, 30);
}

}  // namespace
}  // namespace midwife::bootserver
