#ifndef MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
#define MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
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
//
// A full disk: RocksDB itself must never meet ENOSPC on its write-ahead log.
// Debian's RocksDB 7.8 is built with assertions, and the next WAL write after
// a failed one aborts the process (`sync_without_flush_called_`, fixed
// upstream in facebook/rocksdb#12448); tests/statestore/full_disk_test.cc
// showed it. So Commit measures the disk first (statvfs) and refuses a
// batch that would leave less than `min_free_bytes`, counting twice its bytes
// and those of commits still in flight (the WAL now, a table or blob file
// when the memtable is flushed) and once what the memtables hold unflushed
// (their flush needs room while the WAL still exists; so does the flush that
// recovery makes when the server restarts). Refusing happens before anything
// is written, and lifts as soon as space is freed.
struct RocksDbOptions {
  // Flag --min-free-bytes: room left for everything else (compactions,
  // RocksDB's own log and manifest, the token files).
  uint64_t min_free_bytes = 64ull << 20;
};

class RocksDbEngine final : public StorageEngine {
 public:
  // The on-disk layout version this build reads and writes (key "meta/format").
  static constexpr int kFormatVersion = 1;

  // Opens or creates the database in `dir`. FAILED_PRECONDITION if the folder
  // holds another layout version.
  static absl::StatusOr<std::unique_ptr<RocksDbEngine>> Open(const std::string& dir,
                                                             RocksDbOptions options = {});
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

  // Flushes and rewrites every file, blob files included, so that bytes of
  // overwritten or deleted values (a version before `rekey` resealed it) are
  // no longer in any live file of the database. Slow: an offline tool's job.
  absl::Status CompactAll();

 private:
  static constexpr size_t kLockStripes = 256;
  RocksDbEngine(std::unique_ptr<rocksdb::DB> db, std::string dir, RocksDbOptions options);
  // RESOURCE_EXHAUSTED if writing `batch_bytes` now would eat into the
  // reserve; otherwise counts them in flight until ReleaseSpace.
  absl::Status ReserveSpace(uint64_t batch_bytes, bool deletes_only);
  void ReleaseSpace(uint64_t batch_bytes);

  struct Subscriber {
    std::string from, to;
    std::function<void(const ChangeBatch&)> on_changes;
  };
  class Feed;
  void Notify(const WriteBatch& batch);

  std::unique_ptr<rocksdb::DB> db_;
  const std::string dir_;
  const RocksDbOptions options_;
  std::mutex space_mu_;
  uint64_t bytes_in_flight_ ABSL_GUARDED_BY(space_mu_) = 0;
  std::array<std::mutex, kLockStripes> stripes_;
  // Held while callbacks run, so removing a subscriber waits for them.
  std::mutex subscribers_mu_;
  std::map<uint64_t, Subscriber> subscribers_;  // GUARDED_BY(subscribers_mu_)
  uint64_t next_subscriber_ = 0;                // GUARDED_BY(subscribers_mu_)
  std::atomic<size_t> subscriber_count_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_ROCKSDB_ENGINE_H_
