#ifndef MIDWIFE_TESTS_STATESTORE_MEMORY_STORAGE_ENGINE_H_
#define MIDWIFE_TESTS_STATESTORE_MEMORY_STORAGE_ENGINE_H_

#include <functional>
#include <map>
#include <mutex>

#include "statestore/storage_engine.h"

namespace midwife::statestore::testing {

// An in-memory StorageEngine for unit tests of the logic above the engine.
// `fail_commits_with` makes every Commit fail with that status (the broken
// fake); `before_commit` runs inside Commit before preconditions are checked,
// so a test can slip a concurrent write in.
class MemoryStorageEngine : public StorageEngine {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                             size_t limit) override;
  absl::Status Commit(const std::vector<Precondition>& preconditions,
                      const WriteBatch& batch) override;
  // Reports `limits`, and refuses commits beyond them as etcd would.
  CommitLimits Limits() const override;

  absl::Status fail_commits_with = absl::OkStatus();
  std::function<void()> before_commit;
  size_t commits = 0;
  CommitLimits limits;
  std::map<std::string, std::string, std::less<>>& data() { return data_; }

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;
};

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_MEMORY_STORAGE_ENGINE_H_
