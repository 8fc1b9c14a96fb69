#include "tests/support/descriptor_shortage.h"

#include <fcntl.h>
#include <unistd.h>

namespace midwife::testing {

DescriptorShortage::DescriptorShortage() {
  const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (lowest_free < 0 || ::getrlimit(RLIMIT_NOFILE, &saved_) != 0) {
    if (lowest_free >= 0) ::close(lowest_free);
    return;
  }
  ::close(lowest_free);
  rlimit exhausted = saved_;
  exhausted.rlim_cur = static_cast<rlim_t>(lowest_free);
  active_ = ::setrlimit(RLIMIT_NOFILE, &exhausted) == 0;
}

bool DescriptorShortage::End() {
  if (!active_) return true;
  active_ = false;
  return ::setrlimit(RLIMIT_NOFILE, &saved_) == 0;
}

}  // namespace midwife::testing
