#ifndef MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
#define MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_

#include <array>
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

  // Flushes and rewrites every file, blob files included, so that bytes of
  // overwritten or deleted values (a version before `rekey` resealed it) are
  // no longer in any live file of the database. Slow: an offline tool's job.
  absl::Status CompactAll();

 private:
  static constexpr size_t kLockStripes = 256;
  explicit RocksDbEngine(std::unique_ptr<rocksdb::DB> db);

  std::unique_ptr<rocksdb::DB> db_;
  std::array<std::mutex, kLockStripes> stripes_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
