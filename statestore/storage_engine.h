#ifndef MIDWIFE_STATESTORE_STORAGE_ENGINE_H_
#define MIDWIFE_STATESTORE_STORAGE_ENGINE_H_

#include <functional>
#include <memory>
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
// (std::nullopt: the key is absent), or, with `any_value`, only if `key`
// exists whatever it holds (`value` is then ignored).
struct Precondition {
  std::string key;
  std::optional<std::string> value;
  bool any_value = false;
};

// True if `p` holds for a key whose current value is `current`.
inline bool PreconditionHolds(const Precondition& p, const std::optional<std::string>& current) {
  return p.any_value ? current.has_value() : current == p.value;
}

// How much one Commit can carry; 0 means unbounded. An engine built on a
// store with a request size limit (etcd) states it here, so that callers split
// large writes into unreferenced keys written first and a small final commit
// (see BackupStore). Limits are fixed for the life of the engine.
struct CommitLimits {
  // Sum of the sizes of every precondition's key and value, every put's key
  // and value, and every deleted key.
  size_t max_bytes = 0;
  // Preconditions, and (counted apart) puts plus deletes.
  size_t max_ops = 0;
};

struct WriteBatch {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
};

// Committed writes as a change feed reports them, in commit order.
struct ChangeBatch {
  // Changes may have been lost before these (the feed restarted past what
  // the engine still remembers): whoever caches must reload.
  bool resync = false;
  // Key and new value; nullopt: deleted.
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;
};

// A subscription to an engine's changes; destroying it ends the feed (and
// waits until no callback runs).
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
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

  // Like Scan, keys only: for sweeps over chunk keys whose values are large.
  virtual absl::StatusOr<std::vector<std::string>> ScanKeys(std::string_view prefix,
                                                            std::string_view start_after,
                                                            size_t limit) {
    auto rows = Scan(prefix, start_after, limit);
    if (!rows.ok()) return rows.status();
    std::vector<std::string> keys;
    keys.reserve(rows->size());
    for (KeyValue& row : *rows) keys.push_back(std::move(row.key));
    return keys;
  }

  // Applies the whole batch atomically if every precondition holds, and only
  // returns OK once it is durable (survives power loss). ABORTED when a
  // precondition fails: nothing was written. RESOURCE_EXHAUSTED when the disk
  // is full: nothing was written.
  virtual absl::Status Commit(const std::vector<Precondition>& preconditions,
                              const WriteBatch& batch) = 0;

  virtual CommitLimits Limits() const { return {}; }

  // Calls `on_changes` for committed puts and deletes of keys in
  // [`from`, `to`), made by any writer of the engine's data (with etcd, every
  // frontend), in commit order, on a thread of the engine's; it must return
  // quickly. Writes committed before Subscribe returns may or may not be
  // reported. UNIMPLEMENTED if the engine has no feed.
  virtual absl::StatusOr<std::unique_ptr<ChangeFeed>> Subscribe(
      std::string from, std::string to, std::function<void(const ChangeBatch&)> on_changes) {
    (void)from, (void)to, (void)on_changes;
    return absl::UnimplementedError("this storage engine has no change feed");
  }
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_STORAGE_ENGINE_H_
