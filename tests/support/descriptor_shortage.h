#ifndef MIDWIFE_TESTS_SUPPORT_DESCRIPTOR_SHORTAGE_H_
#define MIDWIFE_TESTS_SUPPORT_DESCRIPTOR_SHORTAGE_H_

#include <sys/resource.h>

namespace midwife::testing {

// A real descriptor shortage: RLIMIT_NOFILE lowered to the lowest free
// descriptor, so the process can open nothing more until End() or
// destruction. Process-wide: every thread of the test is short too.
// Not thread-safe; one at a time.
class DescriptorShortage {
 public:
  DescriptorShortage();
  ~DescriptorShortage() { End(); }
  DescriptorShortage(const DescriptorShortage&) = delete;
  DescriptorShortage& operator=(const DescriptorShortage&) = delete;

  // False if the limit could not be lowered: the test would prove nothing.
  bool active() const { return active_; }
  // Gives the descriptors back; true if the limit was restored. Idempotent.
  bool End();

 private:
  rlimit saved_{};
  bool active_ = false;
};

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_SUPPORT_DESCRIPTOR_SHORTAGE_H_
