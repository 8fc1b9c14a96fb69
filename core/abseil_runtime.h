#ifndef MIDWIFE_CORE_ABSEIL_RUNTIME_H_
#define MIDWIFE_CORE_ABSEIL_RUNTIME_H_

namespace midwife {

// Debian builds Abseil without NDEBUG, which leaves absl::Mutex's debug
// deadlock detector on: every lock gRPC takes then updates one process-wide
// lock graph under a global spin lock. It showed up in the state store's
// profile (GraphCycles::GetId and InsertEdge on the gRPC threads); midwife's
// own code does not use absl::Mutex. Each main calls this first, before any
// thread starts.
void TurnOffAbseilDeadlockDetection();

}  // namespace midwife

#endif  // MIDWIFE_CORE_ABSEIL_RUNTIME_H_
