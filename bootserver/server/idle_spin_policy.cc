#include "bootserver/server/idle_spin_policy.h"

namespace midwife::bootserver {
namespace {

// Weight of the newest gap in the moving share: 1/8, as TCP's smoothed RTT
// (RFC 6298) weighs a new sample. From all short, six long gaps in a row
// turn spinning off; from all long, six short ones turn it on.
constexpr int kShareShift = 3;

}  // namespace

IdleSpinPolicy::Duration IdleSpinPolicy::Budget() const {
  if (longest_ <= Duration::zero()) return Duration::zero();
  return short_gap_share_ >= kOne / 2 ? longest_ : Duration::zero();
}

void IdleSpinPolicy::OnIdleGap(Duration gap) {
  const int sample = gap < longest_ ? kOne : 0;
  short_gap_share_ += (sample - short_gap_share_) >> kShareShift;
}

}  // namespace midwife::bootserver
