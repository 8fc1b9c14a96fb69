#ifndef MIDWIFE_TESTS_STATESTORE_AT_REST_FILES_H_
#define MIDWIFE_TESTS_STATESTORE_AT_REST_FILES_H_

// Looking at what the state store leaves on disk, for tests of encryption at
// rest and of corruption.

#include <string>
#include <vector>

namespace midwife::statestore::testing {

// A plain tarball whose bytes hold `marker` verbatim, 200 times (gzip level
// 0): over 4 KiB, so RocksDB keeps it in a blob file.
std::string ArchiveShowing(const std::string& marker);

// Regular files under `dir` (recursively) whose bytes hold `needle`.
std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle);
inline bool AnyFileHolds(const std::string& dir, const std::string& needle) {
  return !FilesHolding(dir, needle).empty();
}

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_AT_REST_FILES_H_
