#include "statestore/rocksdb_engine.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::statestore {
namespace {

constexpr char kFormatKey[] = "meta/format";

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

absl::StatusOr<std::unique_ptr<RocksDbEngine>> RocksDbEngine::Open(const std::string& dir) {
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
  return std::unique_ptr<RocksDbEngine>(new RocksDbEngine(std::move(db)));
}

RocksDbEngine::RocksDbEngine(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

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
  rocksdb::WriteBatch wb;
  for (const auto& [k, v] : batch.puts) wb.Put(k, v);
  for (const auto& k : batch.deletes) wb.Delete(k);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "committing"));
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
