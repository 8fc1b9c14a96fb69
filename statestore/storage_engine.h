#ifndef MIDWIFE_STATESTORE_STORAGE_ENGINE_H_
#define MIDWIFE_STATESTORE_STORAGE_ENGINE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife::statestore {

struct KeyValue {
  std::string key;
  std::string value;
};

// A commit goes ahead only if `key` currently holds exactly `value`
// (std::nullopt: the key is absent).
struct Precondition {
  std::string key;
  std::optional<std::string> value;
};

struct WriteBatch {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
};

// The narrow interface every storage engine implements (RocksDB embedded;
// etcd for several frontends). The state store needs nothing more.
//
// Thread-safety: every method may be called concurrently.
class StorageEngine {
 public:
  virtual ~StorageEngine() = default;

  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;

  // Keys starting with `prefix`, ascending, strictly after `start_after` (empty:
  // from the first), at most `limit` of them (0: all).
  virtual absl::StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix,
                                                     std::string_view start_after,
                                                     size_t limit) = 0;

  // Applies the whole batch atomically if every precondition holds, and only
  // returns OK once it is durable (survives power loss). ABORTED when a
  // precondition fails: nothing was written. RESOURCE_EXHAUSTED when the disk
  // is full: nothing was written.
  virtual absl::Status Commit(const std::vector<Precondition>& preconditions,
                              const WriteBatch& batch) = 0;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_STORAGE_ENGINE_H_
