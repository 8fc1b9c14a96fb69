#ifndef MIDWIFE_BOOTSERVER_SERVER_IDLE_SPIN_POLICY_H_
#define MIDWIFE_BOOTSERVER_SERVER_IDLE_SPIN_POLICY_H_

#include <chrono>

namespace midwife::bootserver {

// The daemon's spin (flag --idle-spin-us): a loopback or same-switch ACK
// comes back well within it; a gap longer than it turns spinning off.
inline constexpr std::chrono::microseconds kDefaultIdleSpin{50};

// Decides how long a worker thread that has run out of work keeps looking
// for more before it goes to sleep in the kernel.
//
// A lock-step TFTP transfer sends a block and has nothing to do until the
// ACK. When the ACK comes back within a few tens of microseconds (loopback,
// a busy rack switch), putting the thread to sleep and waking it costs more
// than the wait itself, and the client pays the wake-up in its send: a
// short spin keeps both off the scheduler. When gaps are long (a distant
// ROM, an idle daemon) spinning only burns a core. So the thread spins
// while most of its recent gaps were short enough for a spin to catch them
// (a median rather than a mean, so one late ACK in a run of prompt ones
// does not turn spinning off).
//
// Pure logic: the caller measures gaps and does the spinning.
class IdleSpinPolicy {
 public:
  using Duration = std::chrono::nanoseconds;

  // `longest`: the most a thread spins at once; zero never spins.
  explicit IdleSpinPolicy(Duration longest) : longest_(longest) {}

  // How long to spin now before sleeping: `longest` while at least half of
  // the recent gaps were shorter than it, zero otherwise.
  Duration Budget() const;

  // A gap has ended: the thread was out of work for `gap`, whether it found
  // work while spinning or was woken from sleep (a gap slept through still
  // tells whether a spin would have caught it).
  void OnIdleGap(Duration gap);

  // The recent share of gaps a spin caught or would have, in 1/kOne.
  static constexpr int kOne = 1 << 16;
  int short_gap_share() const { return short_gap_share_; }

 private:
  Duration longest_;
  int short_gap_share_ = kOne;  // spin from the start
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_SERVER_IDLE_SPIN_POLICY_H_
