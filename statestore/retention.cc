#include "statestore/retention.h"

namespace midwife::statestore {

std::vector<uint64_t> VersionsToPrune(const std::vector<uint64_t>& versions,
                                      const std::set<uint64_t>& pinned, uint32_t keep_newest) {
  std::vector<uint64_t> prune;
  uint32_t kept = 0;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (pinned.count(*it)) continue;
    if (kept < keep_newest) {
      ++kept;
    } else {
      prune.push_back(*it);
    }
  }
  return {prune.rbegin(), prune.rend()};
}

}  // namespace midwife::statestore
