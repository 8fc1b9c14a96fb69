#ifndef MIDWIFE_TESTS_STATESTORE_BOOTS_AT_ONCE_H_
#define MIDWIFE_TESTS_STATESTORE_BOOTS_AT_ONCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "statestore/boot_batcher.h"

namespace midwife::statestore::testing {

// One thread per MAC, all released together, each booting its MAC through
// `batcher`: hosts powering on at once. The answers, in the MACs' order.
std::vector<absl::StatusOr<v1::BootDecision>> BootAtOnce(BootBatcher& batcher,
                                                         const std::vector<std::string>& macs);

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_BOOTS_AT_ONCE_H_
