#ifndef MIDWIFE_STATESTORE_RETENTION_H_
#define MIDWIFE_STATESTORE_RETENTION_H_

#include <cstdint>
#include <set>
#include <vector>

namespace midwife::statestore {

// Which versions to delete so that the newest `keep_newest` remain, plus every
// pinned one. `versions` ascending. Pinned versions do not count against
// `keep_newest`: pinning an old version never costs a recent one.
// REQUIRES: keep_newest >= 1.
std::vector<uint64_t> VersionsToPrune(const std::vector<uint64_t>& versions,
                                      const std::set<uint64_t>& pinned, uint32_t keep_newest);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_RETENTION_H_
