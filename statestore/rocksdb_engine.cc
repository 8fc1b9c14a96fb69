#include "statestore/rocksdb_engine.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <climits>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::statestore {
namespace {

constexpr char kFormatKey[] = "meta/format";
// Room a delete-only commit (tombstones in the WAL) leaves untouched.
constexpr uint64_t kDeleteReserveBytes = 1 << 20;

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace) {
    return absl::ResourceExhaustedError(absl::StrCat(msg, " (the data folder's disk is full)"));
  }
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbEngine>> RocksDbEngine::Open(const std::string& dir,
                                                                   RocksDbOptions engine_options) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  // Backups are 10 KiB to 8 MiB: keep them out of the LSM tree so compaction
  // rewrites keys, not archives.
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  options.enable_blob_garbage_collection = true;
  // A full disk must surface as an error on the write, and the database must
  // recover by itself once space is freed.
  options.max_bgerror_resume_count = INT_MAX;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening RocksDB in ", dir));
  std::unique_ptr<rocksdb::DB> db(raw);

  std::string format;
  s = db->Get(rocksdb::ReadOptions(), kFormatKey, &format);
  const std::string ours = std::to_string(kFormatVersion);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Put(wo, kFormatKey, ours);
    if (!s.ok()) return FromRocks(s, "writing the format version");
  } else if (!s.ok()) {
    return FromRocks(s, "reading the format version");
  } else if (format != ours) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds state store layout version ", format, "; this build reads version ", ours));
  }
  return std::unique_ptr<RocksDbEngine>(new RocksDbEngine(std::move(db), dir, engine_options));
}

RocksDbEngine::RocksDbEngine(std::unique_ptr<rocksdb::DB> db, std::string dir,
                             RocksDbOptions options)
    : db_(std::move(db)), dir_(std::move(dir)), options_(options) {}

absl::Status RocksDbEngine::ReserveSpace(uint64_t batch_bytes, bool deletes_only) {
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) != 0) {
    return absl::InternalError(absl::StrCat("statvfs ", dir_, ": ", std::strerror(errno)));
  }
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  // Deleting is how space comes back: only a sliver is kept for it.
  const uint64_t reserve = deletes_only ? kDeleteReserveBytes : options_.min_free_bytes;
  // What sits in memtables is already in the WAL and will be written once
  // more by its flush, which must find room (on restart too: recovery
  // flushes the WAL it replays).
  uint64_t unflushed = 0;
  if (!db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &unflushed)) unflushed = 0;
  std::lock_guard lock(space_mu_);
  const uint64_t needed = reserve + unflushed + 2 * (batch_bytes + bytes_in_flight_);
  if (free_bytes < needed) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the data folder's disk is full: ", free_bytes, " bytes free in ", dir_, "; a commit of ",
        batch_bytes, " bytes needs ", needed, " (twice itself and commits in flight, ", unflushed,
        " not yet flushed, ", reserve, " in reserve: --min-free-bytes); nothing was written"));
  }
  bytes_in_flight_ += batch_bytes;
  return absl::OkStatus();
}

void RocksDbEngine::ReleaseSpace(uint64_t batch_bytes) {
  std::lock_guard lock(space_mu_);
  bytes_in_flight_ -= batch_bytes;
}

RocksDbEngine::~RocksDbEngine() {
  if (db_) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::optional<std::string>> RocksDbEngine::Get(std::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, absl::StrCat("reading ", std::string(key)));
  return value;
}

absl::StatusOr<std::vector<KeyValue>> RocksDbEngine::Scan(std::string_view prefix,
                                                          std::string_view start_after,
                                                          size_t limit) {
  std::vector<KeyValue> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string start = start_after.empty() ? std::string(prefix) : std::string(start_after);
  for (it->Seek(start); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
    if (!start_after.empty() && k.compare(rocksdb::Slice(start_after.data(), start_after.size())) <= 0) {
      continue;
    }
    out.push_back({k.ToString(), it->value().ToString()});
    if (limit != 0 && out.size() >= limit) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("scanning ", std::string(prefix)));
  return out;
}

absl::Status RocksDbEngine::CompactAll() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "flushing"));
  RETURN_IF_ERROR(FromRocks(db_->CompactRange(options, nullptr, nullptr), "compacting"));
  // Old WAL files hold the overwritten values too; a flush retires them.
  return FromRocks(db_->FlushWAL(/*sync=*/true), "syncing the WAL");
}

absl::Status RocksDbEngine::Commit(const std::vector<Precondition>& preconditions,
                                   const WriteBatch& batch) {
  std::vector<size_t> stripes;
  stripes.reserve(preconditions.size());
  for (const auto& p : preconditions) stripes.push_back(std::hash<std::string>{}(p.key) % kLockStripes);
  // Sorted, unique stripe order makes two commits over the same keys lock in
  // the same order: no deadlock.
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(stripes.size());
  for (size_t i : stripes) locks.emplace_back(stripes_[i]);

  for (const auto& p : preconditions) {
    auto current = Get(p.key);
    if (!current.ok()) return current.status();
    if (!PreconditionHolds(p, *current)) {
      return absl::AbortedError(absl::StrCat("concurrent change to ", p.key));
    }
  }
  uint64_t batch_bytes = 0;
  for (const auto& [k, v] : batch.puts) batch_bytes += k.size() + v.size();
  for (const auto& k : batch.deletes) batch_bytes += k.size();
  RETURN_IF_ERROR(ReserveSpace(batch_bytes, batch.puts.empty()));
  rocksdb::WriteBatch wb;
  for (const auto& [k, v] : batch.puts) wb.Put(k, v);
  for (const auto& k : batch.deletes) wb.Delete(k);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  absl::Status written = FromRocks(db_->Write(wo, &wb), "committing");
  ReleaseSpace(batch_bytes);
  RETURN_IF_ERROR(written);
  // Still under the stripe locks: commits to one key are reported in order.
  if (subscriber_count_.load(std::memory_order_relaxed) > 0) Notify(batch);
  return absl::OkStatus();
}

class RocksDbEngine::Feed final : public ChangeFeed {
 public:
  Feed(RocksDbEngine& engine, uint64_t id) : engine_(engine), id_(id) {}
  ~Feed() override {
    std::lock_guard lock(engine_.subscribers_mu_);
    engine_.subscribers_.erase(id_);
    engine_.subscriber_count_.fetch_sub(1);
  }

 private:
  RocksDbEngine& engine_;
  const uint64_t id_;
};

absl::StatusOr<std::unique_ptr<ChangeFeed>> RocksDbEngine::Subscribe(
    std::string from, std::string to, std::function<void(const ChangeBatch&)> on_changes) {
  std::lock_guard lock(subscribers_mu_);
  const uint64_t id = next_subscriber_++;
  subscribers_[id] = {std::move(from), std::move(to), std::move(on_changes)};
  subscriber_count_.fetch_add(1);
  return std::unique_ptr<ChangeFeed>(new Feed(*this, id));
}

void RocksDbEngine::Notify(const WriteBatch& batch) {
  std::lock_guard lock(subscribers_mu_);
  for (const auto& [id, subscriber] : subscribers_) {
    ChangeBatch changes;
    auto in_range = [&](const std::string& k) { return k >= subscriber.from && k < subscriber.to; };
    for (const auto& [k, v] : batch.puts) {
      if (in_range(k)) changes.changes.emplace_back(k, v);
    }
    for (const auto& k : batch.deletes) {
      if (in_range(k)) changes.changes.emplace_back(k, std::nullopt);
    }
    if (!changes.changes.empty()) subscriber.on_changes(changes);
  }
}

}  // namespace midwife::statestore
