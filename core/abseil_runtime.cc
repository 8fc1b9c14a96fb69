#include "core/abseil_runtime.h"

#include "absl/synchronization/mutex.h"

namespace midwife {

void TurnOffAbseilDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace midwife
