#include "statestore/retention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace midwife::statestore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(VersionsToPrune, KeepsEverythingUnderTheLimit) {
  EXPECT_THAT(VersionsToPrune({1, 2, 3}, {}, 10), IsEmpty());
}

TEST(VersionsToPrune, PrunesOldestBeyondKeepNewest) {
  EXPECT_THAT(VersionsToPrune({1, 2, 3, 4, 5}, {}, 2), ElementsAre(1, 2, 3));
}

TEST(VersionsToPrune, PinnedVersionsSurviveAndDoNotCountAgainstTheLimit) {
  EXPECT_THAT(VersionsToPrune({1, 2, 3, 4, 5}, {1, 4}, 2), ElementsAre(2));
}

TEST(VersionsToPrune, GapsInNumberingAreHandled) {
  EXPECT_THAT(VersionsToPrune({3, 7, 9, 20}, {}, 1), ElementsAre(3, 7, 9));
}

}  // namespace
}  // namespace midwife::statestore
