#include "tests/statestore/memory_storage_engine.h"

namespace midwife::statestore::testing {

absl::StatusOr<std::optional<std::string>> MemoryStorageEngine::Get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<KeyValue>> MemoryStorageEngine::Scan(std::string_view prefix,
                                                                std::string_view start_after,
                                                                size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<KeyValue> out;
  auto it = start_after.empty() ? data_.lower_bound(prefix) : data_.upper_bound(start_after);
  for (; it != data_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back({it->first, it->second});
    if (limit != 0 && out.size() >= limit) break;
  }
  return out;
}

absl::Status MemoryStorageEngine::Commit(const std::vector<Precondition>& preconditions,
                                         const WriteBatch& batch) {
  if (before_commit) {
    auto hook = std::move(before_commit);
    before_commit = nullptr;
    hook();
  }
  std::lock_guard lock(mu_);
  if (!fail_commits_with.ok()) return fail_commits_with;
  size_t bytes = 0;
  for (const auto& p : preconditions) bytes += p.key.size() + (p.value ? p.value->size() : 0);
  for (const auto& [k, v] : batch.puts) bytes += k.size() + v.size();
  for (const auto& k : batch.deletes) bytes += k.size();
  const size_t ops = batch.puts.size() + batch.deletes.size();
  if ((limits.max_bytes != 0 && bytes > limits.max_bytes) ||
      (limits.max_ops != 0 && (ops > limits.max_ops || preconditions.size() > limits.max_ops))) {
    return absl::InvalidArgumentError("commit exceeds the engine's limits");
  }
  for (const auto& p : preconditions) {
    auto it = data_.find(p.key);
    std::optional<std::string> current;
    if (it != data_.end()) current = it->second;
    if (!PreconditionHolds(p, current)) return absl::AbortedError("precondition failed on " + p.key);
  }
  for (const auto& [k, v] : batch.puts) data_[k] = v;
  for (const auto& k : batch.deletes) data_.erase(k);
  ++commits;
  return absl::OkStatus();
}

CommitLimits MemoryStorageEngine::Limits() const { return limits; }

}  // namespace midwife::statestore::testing
