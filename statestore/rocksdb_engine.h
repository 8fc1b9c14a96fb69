#ifndef MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
#define MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "statestore/storage_engine.h"

namespace rocksdb {
class DB;
}

namespace midwife::statestore {

// The embedded default engine. Every commit is written with a synced WAL
// before it returns; RocksDB's write thread groups concurrent writers so
// they share one fsync. Preconditions are checked under a striped lock on
// the precondition keys, so commits to different hosts never wait on each
// other except for the shared fsync.
class RocksDbEngine final : public StorageEngine {
 public:
  // The on-disk layout version this build reads and writes (key "meta/format").
  static constexpr int kFormatVersion = 1;

  // Opens or creates the database in `dir`. FAILED_PRECONDITION if the folder
  // holds another layout version.
  static absl::StatusOr<std::unique_ptr<RocksDbEngine>> Open(const std::string& dir);
  ~RocksDbEngine() override;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix,
                                             std::string_view start_after,
                                             size_t limit) override;
  absl::Status Commit(const std::vector<Precondition>& preconditions,
                      const WriteBatch& batch) override;
  // Reports this process's commits (the only writer of an embedded database).
  absl::StatusOr<std::unique_ptr<ChangeFeed>> Subscribe(
      std::string from, std::string to, std::function<void(const ChangeBatch&)> on_changes) override;

 private:
  static constexpr size_t kLockStripes = 256;
  explicit RocksDbEngine(std::unique_ptr<rocksdb::DB> db);

  struct Subscriber {
    std::string from, to;
    std::function<void(const ChangeBatch&)> on_changes;
  };
  class Feed;
  void Notify(const WriteBatch& batch);

  std::unique_ptr<rocksdb::DB> db_;
  std::array<std::mutex, kLockStripes> stripes_;
  // Held while callbacks run, so removing a subscriber waits for them.
  std::mutex subscribers_mu_;
  std::map<uint64_t, Subscriber> subscribers_;  // GUARDED_BY(subscribers_mu_)
  uint64_t next_subscriber_ = 0;                // GUARDED_BY(subscribers_mu_)
  std::atomic<size_t> subscriber_count_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
