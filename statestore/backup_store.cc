#include "statestore/backup_store.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "proto/statestore_records.pb.h"
#include "statestore/key_layout.h"
#include "statestore/retention.h"
#include "statestore/sealed_blob.h"

namespace midwife::statestore {
namespace {

namespace rec = ::midwife::statestore::records::v1;

// Concurrent backups of one host race on its head record; the loser re-reads
// and tries again. More than this many losses in a row means something is
// writing that host in a tight loop.
constexpr int kMaxCommitAttempts = 32;
constexpr size_t kMaxLabels = 32;
constexpr size_t kMaxLabelKeyBytes = 64;
constexpr size_t kMaxLabelValueBytes = 512;
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

}  // namespace

struct BackupStore::Head {
  rec::HostHead record;
  std::optional<std::string> raw;  // As stored: the compare-and-set token.
};

namespace {

using Head = BackupStore::Head;

// True if one Commit of the engine can carry `batch` (see CommitLimits).
bool Fits(const CommitLimits& limits, const std::vector<Precondition>& preconditions,
          const WriteBatch& batch) {
  size_t bytes = 0;
  for (const auto& p : preconditions) bytes += p.key.size() + (p.value ? p.value->size() : 0);
  for (const auto& [k, v] : batch.puts) bytes += k.size() + v.size();
  for (const auto& k : batch.deletes) bytes += k.size();
  const size_t ops = batch.puts.size() + batch.deletes.size();
  return (limits.max_bytes == 0 || bytes <= limits.max_bytes) &&
         (limits.max_ops == 0 || (ops <= limits.max_ops && preconditions.size() <= limits.max_ops));
}

absl::StatusOr<Head> LoadHead(StorageEngine& engine, const std::string& mac) {
  ASSIGN_OR_RETURN(auto raw, engine.Get(keys::Head(mac)));
  Head head;
  if (raw && !head.record.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("host record of ", mac, " is corrupt"));
  }
  head.raw = std::move(raw);
  return head;
}

absl::StatusOr<rec::StoredVersion> LoadVersion(StorageEngine& engine, const std::string& mac,
                                                   uint64_t version) {
  ASSIGN_OR_RETURN(auto raw, engine.Get(keys::Version(mac, version)));
  if (!raw) return absl::NotFoundError(absl::StrCat("host ", mac, " has no version ", version));
  rec::StoredVersion stored;
  if (!stored.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("version ", version, " of ", mac, " is corrupt"));
  }
  return stored;
}

// The associated data binding a sealed archive to its host and version.
std::string ArchiveAad(const std::string& mac, uint64_t version) {
  return absl::StrCat("midwife statestore archive mac=", mac, " version=", version);
}

// What goes to the engine for an archive: the archive, or it sealed under
// the current key with a fresh nonce.
struct AtRest {
  std::string bytes;
  rec::Sealing sealing = rec::SEALING_NONE;
  std::string key_id;
};

absl::StatusOr<AtRest> ForRest(const StateKeyRing& keys, const std::string& mac, uint64_t version,
                               const std::string& archive) {
  AtRest out;
  const StateKey* key = keys.current();
  if (key == nullptr) {
    out.bytes = archive;
    return out;
  }
  ASSIGN_OR_RETURN(out.bytes,
                   Seal(key->bytes, RandomSealNonce(), ArchiveAad(mac, version), archive));
  out.sealing = rec::SEALING_AES_256_GCM;
  out.key_id = key->id;
  return out;
}

// Fills the record's at-rest fields and the batch's chunk puts.
void PutAtRest(const std::string& mac, uint64_t version, const AtRest& at_rest,
               rec::StoredVersion& stored, WriteBatch& batch) {
  const uint32_t chunks =
      static_cast<uint32_t>((at_rest.bytes.size() + keys::kChunkBytes - 1) / keys::kChunkBytes);
  stored.set_chunk_count(chunks);
  stored.set_sealing(at_rest.sealing);
  stored.set_key_id(at_rest.key_id);
  stored.set_stored_bytes(at_rest.bytes.size());
  for (uint32_t c = 0; c < chunks; ++c) {
    batch.puts.emplace_back(keys::Chunk(mac, version, c),
                            at_rest.bytes.substr(c * keys::kChunkBytes, keys::kChunkBytes));
  }
}

uint64_t Newest(const rec::HostHead& head) {
  return head.versions_size() == 0 ? 0 : head.versions(head.versions_size() - 1);
}

absl::StatusOr<uint64_t> ResolveVersion(const Head& head, const std::string& mac, uint64_t v) {
  if (!head.raw || head.record.versions_size() == 0) {
    return absl::NotFoundError(absl::StrCat("no backup stored for host ", mac));
  }
  return v == 0 ? Newest(head.record) : v;
}

v1::BackupKind ToProtoKind(StateKind kind) {
  switch (kind) {
    case StateKind::kEsxiState: return v1::BACKUP_KIND_ESXI_STATE;
    case StateKind::kEsxiConfigBundle: return v1::BACKUP_KIND_ESXI_CONFIG_BUNDLE;
    case StateKind::kPlainTarball: return v1::BACKUP_KIND_PLAIN_TARBALL;
  }
  return v1::BACKUP_KIND_UNSPECIFIED;
}

absl::StatusOr<std::optional<StateKind>> FromProtoKind(v1::BackupKind kind) {
  switch (kind) {
    case v1::BACKUP_KIND_UNSPECIFIED: return std::nullopt;
    case v1::BACKUP_KIND_ESXI_STATE: return StateKind::kEsxiState;
    case v1::BACKUP_KIND_ESXI_CONFIG_BUNDLE: return StateKind::kEsxiConfigBundle;
    case v1::BACKUP_KIND_PLAIN_TARBALL: return StateKind::kPlainTarball;
    default: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown backup kind ", static_cast<int>(kind)));
}

absl::Status CheckLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.size(), " labels given; at most ", kMaxLabels, " are kept"));
  }
  for (const auto& [k, v] : labels) {
    if (k.empty() || k.size() > kMaxLabelKeyBytes || v.size() > kMaxLabelValueBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label \"", k.substr(0, kMaxLabelKeyBytes), "\": keys must be 1-", kMaxLabelKeyBytes,
          " bytes and values at most ", kMaxLabelValueBytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

BackupStore::BackupStore(StorageEngine& engine, BackupStoreOptions options)
    : engine_(engine), options_(std::move(options)) {
  if (options_.keep_newest == 0) options_.keep_newest = 1;
}

int64_t BackupStore::Now() const {
  if (options_.now_unix_ms) return options_.now_unix_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<BackupResult> BackupStore::Backup(const MacAddress& mac,
                                                 const v1::BackupHeader& header,
                                                 std::string archive) {
  if (archive.size() > options_.max_backup_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("backup of ", archive.size(),
                                                   " bytes exceeds the limit of ",
                                                   options_.max_backup_bytes));
  }
  RETURN_IF_ERROR(CheckLabels(header.labels()));
  ASSIGN_OR_RETURN(std::optional<StateKind> expected_kind, FromProtoKind(header.kind()));
  const std::string sha256 = Sha256Hex(archive);
  const std::string key = mac.ToString();
  // ESXi uploads its state hourly whether or not it changed: bytes identical
  // to the newest version were validated when stored, so answer at once.
  ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
  ASSIGN_OR_RETURN(std::optional<BackupResult> unchanged, Unchanged(key, head, header, sha256));
  if (unchanged) return *std::move(unchanged);
  ASSIGN_OR_RETURN(StateArchiveInfo validated,
                   ValidateStateArchive(archive, expected_kind, options_.archive_limits));
  for (int attempt = 1;; ++attempt) {
    auto result = TryBackup(key, head, header, validated, archive, sha256);
    bool retry = absl::IsAborted(result.status()) && !header.has_expected_version() &&
                 attempt < kMaxCommitAttempts;
    if (!retry) return result;
    // Another backup of this host committed first: start over from its head.
    ASSIGN_OR_RETURN(head, LoadHead(engine_, key));
  }
}

absl::StatusOr<std::optional<BackupResult>> BackupStore::Unchanged(const std::string& mac,
                                                                   const Head& head,
                                                                   const v1::BackupHeader& header,
                                                                   const std::string& sha256) {
  const uint64_t newest = Newest(head.record);
  if (newest == 0 || head.record.newest_sha256() != sha256) return std::nullopt;
  if (header.has_expected_version() && header.expected_version() != newest) return std::nullopt;
  ASSIGN_OR_RETURN(rec::StoredVersion existing, LoadVersion(engine_, mac, newest));
  // A declared kind that differs from the stored one goes through validation,
  // which refuses it as it refused it before.
  if (header.kind() != v1::BACKUP_KIND_UNSPECIFIED && header.kind() != existing.info().kind()) {
    return std::nullopt;
  }
  return BackupResult{existing.info(), false};
}

absl::StatusOr<BackupResult> BackupStore::TryBackup(const std::string& mac, const Head& head,
                                                    const v1::BackupHeader& header,
                                                    const StateArchiveInfo& validated,
                                                    const std::string& archive,
                                                    const std::string& sha256) {
  const uint64_t newest = Newest(head.record);
  if (header.has_expected_version() && header.expected_version() != newest) {
    return absl::AbortedError(absl::StrCat("host ", mac, " is at version ", newest,
                                           ", not the expected ", header.expected_version(),
                                           "; nothing stored"));
  }
  if (newest != 0 && head.record.newest_sha256() == sha256) {
    ASSIGN_OR_RETURN(rec::StoredVersion existing, LoadVersion(engine_, mac, newest));
    return BackupResult{existing.info(), false};
  }

  const uint64_t version = std::max<uint64_t>(head.record.next_version(), newest + 1);
  const int64_t now = Now();
  rec::StoredVersion stored;
  v1::VersionInfo& info = *stored.mutable_info();
  info.set_mac(mac);
  info.set_version(version);
  info.set_created_unix_ms(now);
  info.set_size(archive.size());
  info.set_sha256(sha256);
  info.set_kind(ToProtoKind(validated.kind));
  *info.mutable_labels() = header.labels();
  for (const auto& [k, v] : validated.labels) (*info.mutable_labels())[k] = v;
  ASSIGN_OR_RETURN(NextHead next, WithVersion(mac, head.record, version, sha256, now));
  // Sealed (when a key is set) for this version before anything is written:
  // the bytes a staged write spreads over several commits are the sealed ones.
  ASSIGN_OR_RETURN(AtRest at_rest, ForRest(options_.keys, mac, version, archive));
  WriteBatch batch;
  PutAtRest(mac, version, at_rest, stored, batch);
  batch.puts.emplace_back(keys::Version(mac, version), stored.SerializeAsString());
  for (const auto& [old, old_chunks] : next.pruned) {
    batch.deletes.push_back(keys::Version(mac, old));
    for (uint32_t c = 0; c < old_chunks; ++c) batch.deletes.push_back(keys::Chunk(mac, old, c));
  }
  batch.puts.emplace_back(keys::Head(mac), next.head.SerializeAsString());
  std::vector<Precondition> preconditions = {{keys::Head(mac), head.raw}};
  if (!Fits(engine_.Limits(), preconditions, batch)) {
    return StagedBackup(mac, head, header, stored, at_rest.bytes);
  }
  RETURN_IF_ERROR(engine_.Commit(preconditions, batch));
  return BackupResult{info, true};
}

absl::StatusOr<BackupStore::NextHead> BackupStore::WithVersion(const std::string& mac,
                                                               const rec::HostHead& current,
                                                               uint64_t version,
                                                               const std::string& sha256,
                                                               int64_t now) {
  NextHead next;
  next.head = current;
  next.head.set_next_version(std::max<uint64_t>(current.next_version(), version + 1));
  next.head.add_versions(version);
  next.head.set_newest_sha256(sha256);
  next.head.set_updated_unix_ms(now);
  const std::set<uint64_t> pinned(next.head.pinned().begin(), next.head.pinned().end());
  const std::vector<uint64_t> all(next.head.versions().begin(), next.head.versions().end());
  const std::vector<uint64_t> prune = VersionsToPrune(all, pinned, options_.keep_newest);
  for (uint64_t old : prune) {
    auto doomed = LoadVersion(engine_, mac, old);
    if (absl::IsNotFound(doomed.status())) {
      // Another writer pruned it since `current` was read: the head is stale
      // and the commit would fail its compare anyway.
      return absl::AbortedError(absl::StrCat("host ", mac, " changed concurrently"));
    }
    if (!doomed.ok()) return doomed.status();
    next.pruned.emplace_back(old, doomed->chunk_count());
  }
  next.head.clear_versions();
  for (uint64_t v : all) {
    if (!std::binary_search(prune.begin(), prune.end(), v)) next.head.add_versions(v);
  }
  return next;
}

absl::StatusOr<BackupResult> BackupStore::StagedBackup(const std::string& mac, const Head& head,
                                                       const v1::BackupHeader& header,
                                                       const rec::StoredVersion& stored,
                                                       const std::string& archive) {
  const CommitLimits limits = engine_.Limits();
  const uint64_t version = stored.info().version();
  const uint32_t chunks = stored.chunk_count();
  if (limits.max_ops != 0 && chunks + 1 > limits.max_ops) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backup of ", archive.size(), " bytes needs ", chunks,
        " chunks, more than one commit of this storage engine may check (", limits.max_ops,
        "); raise etcd's --max-txn-ops and --etcd-max-txn-ops, or lower --max-backup-bytes"));
  }
  // 1. Claim `version`: once the head says the next version is beyond it, no
  // other writer picks it, so the chunk keys below are ours alone.
  rec::HostHead claimed = head.record;
  claimed.set_next_version(version + 1);
  Head current{claimed, claimed.SerializeAsString()};
  {
    WriteBatch claim;
    claim.puts.emplace_back(keys::Head(mac), *current.raw);
    RETURN_IF_ERROR(engine_.Commit({{keys::Head(mac), head.raw}}, claim));
  }
  // 2. The chunks, unreferenced until step 3: readers reach chunks only
  // through a version record. Each must still be absent (a leftover of a
  // host deleted half-way would otherwise be overwritten under a writer
  // that still finishes).
  std::vector<std::string> chunk_keys;
  for (uint32_t c = 0; c < chunks; ++c) chunk_keys.push_back(keys::Chunk(mac, version, c));
  const std::string version_key = keys::Version(mac, version);
  auto give_up = [&](absl::Status why) {
    DeleteUnreferencedChunks(version_key, chunk_keys).IgnoreError();
    return why;
  };
  for (uint32_t c = 0; c < chunks;) {
    std::vector<Precondition> absent;
    WriteBatch part;
    size_t bytes = 0;
    while (c < chunks) {
      std::string_view piece =
          std::string_view(archive).substr(c * keys::kChunkBytes, keys::kChunkBytes);
      const size_t more = 2 * chunk_keys[c].size() + piece.size();
      if (!part.puts.empty() &&
          (bytes + more > limits.max_bytes || part.puts.size() + 1 > limits.max_ops)) {
        break;
      }
      absent.push_back({chunk_keys[c], std::nullopt});
      part.puts.emplace_back(chunk_keys[c], std::string(piece));
      bytes += more;
      ++c;
    }
    absl::Status st = engine_.Commit(absent, part);
    if (!st.ok()) return give_up(st);
  }
  // 3. The version record and head in one commit that checks the head and
  // that every chunk is still there (an orphan sweep may have taken them if
  // this writer stalled). Other commits to the head in the meantime (pins,
  // other writers' claims) are rebased over, as long as `version` would still
  // be the newest.
  for (int attempt = 1;; ++attempt) {
    const uint64_t newest = Newest(current.record);
    if (!current.raw || newest >= version ||
        (header.has_expected_version() && header.expected_version() != newest)) {
      return give_up(absl::AbortedError(absl::StrCat(
          "host ", mac, " changed while version ", version, " was written; nothing stored")));
    }
    ASSIGN_OR_RETURN(NextHead next,
                     WithVersion(mac, current.record, version, stored.info().sha256(),
                                 stored.info().created_unix_ms()));
    std::vector<Precondition> preconditions = {{keys::Head(mac), current.raw}};
    for (const std::string& key : chunk_keys) preconditions.push_back({key, std::nullopt, true});
    WriteBatch batch;
    batch.puts.emplace_back(version_key, stored.SerializeAsString());
    batch.puts.emplace_back(keys::Head(mac), next.head.SerializeAsString());
    for (const auto& pruned : next.pruned) batch.deletes.push_back(keys::Version(mac, pruned.first));
    absl::Status st = engine_.Commit(preconditions, batch);
    if (st.ok()) {
      // The pruned versions' chunks are unreferenced now; what this misses
      // the orphan sweep collects.
      for (const auto& [old, old_chunks] : next.pruned) {
        std::vector<std::string> doomed;
        for (uint32_t c = 0; c < old_chunks; ++c) doomed.push_back(keys::Chunk(mac, old, c));
        DeleteUnreferencedChunks(keys::Version(mac, old), doomed).IgnoreError();
      }
      return BackupResult{stored.info(), true};
    }
    // Outcome unknown: leave the chunks; if the commit was not applied they
    // are orphans for the sweep.
    if (!absl::IsAborted(st)) return st;
    ASSIGN_OR_RETURN(Head reread, LoadHead(engine_, mac));
    if (reread.raw == current.raw || attempt >= kMaxCommitAttempts) {
      // The head is as we wrote it, so a chunk is gone: start over.
      return give_up(absl::AbortedError(
          absl::StrCat("chunks of version ", version, " of ", mac, " vanished before commit")));
    }
    current = std::move(reread);
  }
}

absl::Status BackupStore::DeleteUnreferencedChunks(const std::string& version_key,
                                                   const std::vector<std::string>& chunk_keys) {
  const CommitLimits limits = engine_.Limits();
  for (size_t i = 0; i < chunk_keys.size();) {
    WriteBatch batch;
    size_t bytes = version_key.size();
    while (i < chunk_keys.size() &&
           (batch.deletes.empty() ||
            ((limits.max_ops == 0 || batch.deletes.size() < limits.max_ops) &&
             (limits.max_bytes == 0 || bytes + chunk_keys[i].size() <= limits.max_bytes)))) {
      bytes += chunk_keys[i].size();
      batch.deletes.push_back(chunk_keys[i++]);
    }
    // Only while no version record names them: a writer that committed in
    // the meantime keeps its chunks.
    RETURN_IF_ERROR(engine_.Commit({{version_key, std::nullopt}}, batch));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> BackupStore::SweepOrphanChunks(std::set<std::string>& suspects) {
  constexpr size_t kPage = 1000;
  // Chunk keys first, version keys second: a version committed between the
  // two scans is seen by the second.
  std::map<std::string, std::vector<std::string>> orphans;  // version key -> chunk keys
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<std::string> page, engine_.ScanKeys(keys::kChunkPrefix, after, kPage));
    for (std::string& key : page) {
      std::string version_key = keys::VersionOfChunk(key);
      if (!version_key.empty()) orphans[version_key].push_back(std::move(key));
    }
    if (page.size() < kPage) break;
    after = orphans.rbegin()->second.back();
  }
  after.clear();
  while (!orphans.empty()) {
    ASSIGN_OR_RETURN(std::vector<std::string> page,
                     engine_.ScanKeys(keys::kVersionPrefix, after, kPage));
    for (const std::string& key : page) orphans.erase(key);
    if (page.size() < kPage) break;
    after = page.back();
  }
  // Deleted only when seen unreferenced by the previous sweep too: a writer
  // is between its chunks and its commit for seconds, not a sweep interval.
  size_t deleted = 0;
  std::set<std::string> next_suspects;
  for (const auto& [version_key, chunk_keys] : orphans) {
    if (!suspects.count(version_key)) {
      next_suspects.insert(version_key);
      continue;
    }
    absl::Status st = DeleteUnreferencedChunks(version_key, chunk_keys);
    if (st.ok()) {
      deleted += chunk_keys.size();
    } else if (!absl::IsAborted(st)) {
      next_suspects.insert(version_key);
    }
  }
  // Empty heads, keyed by head key plus their bytes: deleted only if seen
  // the same at two sweeps, and only while still the same.
  after.clear();
  while (true) {
    ASSIGN_OR_RETURN(std::vector<KeyValue> heads,
                     engine_.Scan(keys::kHeadPrefix, after, kPage));
    for (const KeyValue& row : heads) {
      rec::HostHead head;
      if (!head.ParseFromString(row.value) || head.versions_size() > 0 || head.pinned_size() > 0) {
        continue;
      }
      const std::string suspect = row.key + '\0' + row.value;
      if (!suspects.count(suspect)) {
        next_suspects.insert(suspect);
        continue;
      }
      WriteBatch batch;
      batch.deletes.push_back(row.key);
      engine_.Commit({{row.key, row.value}}, batch).IgnoreError();
    }
    if (heads.size() < kPage) break;
    after = heads.back().key;
  }
  suspects = std::move(next_suspects);
  return deleted;
}

absl::StatusOr<RestoredBackup> BackupStore::Restore(const MacAddress& mac, uint64_t version) {
  const std::string key = mac.ToString();
  ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
  ASSIGN_OR_RETURN(uint64_t v, ResolveVersion(head, key, version));
  ASSIGN_OR_RETURN(rec::StoredVersion stored, LoadVersion(engine_, key, v));
  RestoredBackup out;
  ASSIGN_OR_RETURN(out.archive, ReadArchive(key, v, stored));
  out.info = stored.info();
  out.info.set_pinned(std::count(head.record.pinned().begin(), head.record.pinned().end(), v) > 0);
  return out;
}

absl::StatusOr<std::string> BackupStore::ReadArchive(const std::string& mac, uint64_t v,
                                                     const rec::StoredVersion& stored) {
  const auto fail = [&](auto... why) {
    return absl::DataLossError(
        absl::StrCat("version ", v, " of ", mac, " ", why..., "; not served"));
  };
  std::string at_rest;
  at_rest.reserve(stored.stored_bytes() != 0 ? stored.stored_bytes() : stored.info().size());
  for (uint32_t c = 0; c < stored.chunk_count(); ++c) {
    ASSIGN_OR_RETURN(auto chunk, engine_.Get(keys::Chunk(mac, v, c)));
    if (!chunk) {
      // Pruned by a concurrent backup between our reads, or lost on disk.
      auto still_there = LoadVersion(engine_, mac, v);
      if (absl::IsNotFound(still_there.status())) return still_there.status();
      return fail("is missing chunk ", c);
    }
    at_rest += *chunk;
  }
  // Records written before stored_bytes existed hold 0 there.
  if (stored.stored_bytes() != 0 && at_rest.size() != stored.stored_bytes()) {
    return fail("holds ", at_rest.size(), " bytes at rest, not ", stored.stored_bytes());
  }
  std::string archive;
  switch (stored.sealing()) {
    case rec::SEALING_NONE:
      archive = std::move(at_rest);
      break;
    case rec::SEALING_AES_256_GCM: {
      const StateKey* key = options_.keys.Find(stored.key_id());
      if (key == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            "version ", v, " of ", mac, " is encrypted with state key ", KeyIdHex(stored.key_id()),
            ", which this store was not given (--state-key-file or --old-state-key-file); not "
            "served"));
      }
      absl::StatusOr<SealedHeader> header = ReadSealedHeader(at_rest);
      if (header.ok() && header->key_id != stored.key_id()) {
        return fail("is sealed with key ", KeyIdHex(header->key_id), " but recorded under ",
                    KeyIdHex(stored.key_id()));
      }
      absl::StatusOr<std::string> opened = Open(key->bytes, ArchiveAad(mac, v), at_rest);
      if (!opened.ok()) return fail(opened.status().message());
      archive = *std::move(opened);
      break;
    }
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("version ", v, " of ", mac, " is stored with sealing ",
                       static_cast<int>(stored.sealing()), ", unknown to this build; not served"));
  }
  if (archive.size() != stored.info().size() || Sha256Hex(archive) != stored.info().sha256()) {
    return fail("does not match its SHA-256 ", stored.info().sha256());
  }
  return archive;
}

absl::StatusOr<RekeyReport> BackupStore::Rekey() {
  const StateKey* current = options_.keys.current();
  if (current == nullptr) {
    return absl::FailedPreconditionError("rekey needs a current key (--state-key-file)");
  }
  RekeyReport report;
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(auto heads, engine_.Scan(keys::kHeadPrefix, after, kDefaultPageSize));
    if (heads.empty()) break;
    after = heads.back().key;
    for (const KeyValue& row : heads) {
      const std::string mac(keys::MacOfHead(row.key));
      ++report.hosts;
      ASSIGN_OR_RETURN(Head head, LoadHead(engine_, mac));
      for (uint64_t v : head.record.versions()) {
        ++report.versions;
        ASSIGN_OR_RETURN(auto raw, engine_.Get(keys::Version(mac, v)));
        if (!raw) continue;  // Pruned since the head was read.
        rec::StoredVersion stored;
        if (!stored.ParseFromString(*raw)) {
          return absl::DataLossError(absl::StrCat("version ", v, " of ", mac, " is corrupt"));
        }
        const bool done =
            stored.sealing() == rec::SEALING_AES_256_GCM && stored.key_id() == current->id;
        if (done) continue;
        ASSIGN_OR_RETURN(std::string archive, ReadArchive(mac, v, stored));
        ASSIGN_OR_RETURN(AtRest at_rest, ForRest(options_.keys, mac, v, archive));
        WriteBatch batch;
        const uint32_t old_chunks = stored.chunk_count();
        PutAtRest(mac, v, at_rest, stored, batch);
        for (uint32_t c = stored.chunk_count(); c < old_chunks; ++c) {
          batch.deletes.push_back(keys::Chunk(mac, v, c));
        }
        batch.puts.emplace_back(keys::Version(mac, v), stored.SerializeAsString());
        absl::Status st =
            engine_.Commit({{keys::Head(mac), head.raw}, {keys::Version(mac, v), raw}}, batch);
        if (absl::IsAborted(st)) continue;  // Changed under us: no writer was expected.
        RETURN_IF_ERROR(st);
        ++report.resealed;
      }
    }
  }
  return report;
}

absl::StatusOr<AtRestCounts> BackupStore::CountAtRest() {
  AtRestCounts counts;
  const StateKey* current = options_.keys.current();
  std::string after;
  for (;;) {
    ASSIGN_OR_RETURN(auto rows, engine_.Scan("v/", after, kMaxPageSize));
    if (rows.empty()) break;
    after = rows.back().key;
    for (const KeyValue& row : rows) {
      rec::StoredVersion stored;
      if (!stored.ParseFromString(row.value)) {
        return absl::DataLossError(absl::StrCat("version record ", row.key, " is corrupt"));
      }
      if (stored.sealing() == rec::SEALING_NONE) {
        ++counts.plaintext;
      } else if (current != nullptr && stored.key_id() == current->id) {
        ++counts.current_key;
      } else if (options_.keys.Find(stored.key_id()) != nullptr) {
        ++counts.old_keys;
      } else {
        ++counts.unknown_keys;
      }
    }
  }
  return counts;
}

absl::StatusOr<v1::VersionInfo> BackupStore::Stat(const MacAddress& mac) {
  const std::string key = mac.ToString();
  ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
  ASSIGN_OR_RETURN(uint64_t v, ResolveVersion(head, key, 0));
  ASSIGN_OR_RETURN(rec::StoredVersion stored, LoadVersion(engine_, key, v));
  stored.mutable_info()->set_pinned(
      std::count(head.record.pinned().begin(), head.record.pinned().end(), v) > 0);
  return stored.info();
}

absl::StatusOr<std::vector<v1::VersionInfo>> BackupStore::ListVersions(const MacAddress& mac) {
  const std::string key = mac.ToString();
  ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
  if (!head.raw) return absl::NotFoundError(absl::StrCat("no backup stored for host ", key));
  const std::set<uint64_t> pinned(head.record.pinned().begin(), head.record.pinned().end());
  std::vector<v1::VersionInfo> out;
  for (int i = head.record.versions_size() - 1; i >= 0; --i) {
    uint64_t v = head.record.versions(i);
    auto stored = LoadVersion(engine_, key, v);
    if (absl::IsNotFound(stored.status())) continue;  // Pruned since we read the head.
    if (!stored.ok()) return stored.status();
    stored->mutable_info()->set_pinned(pinned.count(v) > 0);
    out.push_back(stored->info());
  }
  return out;
}

absl::StatusOr<HostPage> BackupStore::ListHosts(uint32_t page_size, const std::string& page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);
  std::string start_after;
  if (!page_token.empty()) {
    ASSIGN_OR_RETURN(MacAddress after, MacAddress::Parse(page_token));
    start_after = keys::Head(after.ToString());
  }
  ASSIGN_OR_RETURN(auto rows, engine_.Scan(keys::kHeadPrefix, start_after, page_size + 1));
  HostPage page;
  for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
    rec::HostHead head;
    if (!head.ParseFromString(rows[i].value)) {
      return absl::DataLossError(absl::StrCat("host record ", rows[i].key, " is corrupt"));
    }
    v1::HostSummary& s = page.hosts.emplace_back();
    s.set_mac(std::string(keys::MacOfHead(rows[i].key)));
    s.set_newest_version(Newest(head));
    s.set_version_count(static_cast<uint32_t>(head.versions_size()));
    s.set_updated_unix_ms(head.updated_unix_ms());
  }
  if (rows.size() > page_size) page.next_page_token = page.hosts.back().mac();
  return page;
}

absl::StatusOr<uint32_t> BackupStore::DeleteHost(const MacAddress& mac) {
  const std::string key = mac.ToString();
  const CommitLimits limits = engine_.Limits();
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
    if (!head.raw) return absl::NotFoundError(absl::StrCat("no backup stored for host ", key));
    ASSIGN_OR_RETURN(std::vector<std::string> version_keys,
                     engine_.ScanKeys(absl::StrCat("v/", key, "/"), "", 0));
    ASSIGN_OR_RETURN(std::vector<std::string> chunk_keys,
                     engine_.ScanKeys(absl::StrCat("d/", key, "/"), "", 0));
    const std::vector<Precondition> preconditions = {{keys::Head(key), head.raw}};
    WriteBatch batch;
    batch.deletes.push_back(keys::Head(key));
    batch.deletes.insert(batch.deletes.end(), version_keys.begin(), version_keys.end());
    batch.deletes.insert(batch.deletes.end(), chunk_keys.begin(), chunk_keys.end());
    const bool staged = !Fits(limits, preconditions, batch);
    if (staged) {
      // Too large for one commit: the head and version records go in one
      // (the host is gone for readers), the chunks after it.
      batch.deletes.resize(1 + version_keys.size());
      if (!Fits(limits, preconditions, batch)) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "host ", key, " has ", version_keys.size(),
            " versions, more than one commit of this storage engine may delete"));
      }
    }
    absl::Status st = engine_.Commit(preconditions, batch);
    if (st.ok()) {
      if (staged) {
        std::map<std::string, std::vector<std::string>> by_version;
        for (std::string& chunk : chunk_keys) by_version[keys::VersionOfChunk(chunk)].push_back(chunk);
        for (const auto& [version_key, doomed] : by_version) {
          DeleteUnreferencedChunks(version_key, doomed).IgnoreError();
        }
      }
      return static_cast<uint32_t>(head.record.versions_size());
    }
    if (!absl::IsAborted(st) || attempt >= kMaxCommitAttempts) return st;
  }
}

absl::StatusOr<v1::VersionInfo> BackupStore::Pin(const MacAddress& mac, uint64_t version,
                                                 bool pinned) {
  const std::string key = mac.ToString();
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
    ASSIGN_OR_RETURN(uint64_t v, ResolveVersion(head, key, version));
    ASSIGN_OR_RETURN(rec::StoredVersion stored, LoadVersion(engine_, key, v));
    rec::HostHead next = head.record;
    next.clear_pinned();
    for (uint64_t p : head.record.pinned()) {
      if (p != v) next.add_pinned(p);
    }
    if (pinned) next.add_pinned(v);
    WriteBatch batch;
    batch.puts.emplace_back(keys::Head(key), next.SerializeAsString());
    absl::Status st = engine_.Commit({{keys::Head(key), head.raw}}, batch);
    if (st.ok()) {
      stored.mutable_info()->set_pinned(pinned);
      return stored.info();
    }
    if (!absl::IsAborted(st) || attempt >= kMaxCommitAttempts) return st;
  }
}

absl::StatusOr<v1::VersionInfo> BackupStore::Copy(const MacAddress& from, const MacAddress& to,
                                                  uint64_t version) {
  if (from == to) {
    return absl::InvalidArgumentError(absl::StrCat("copy from ", from.ToString(), " to itself"));
  }
  ASSIGN_OR_RETURN(RestoredBackup source, Restore(from, version));
  v1::BackupHeader header;
  header.set_mac(to.ToString());
  header.set_kind(source.info.kind());
  *header.mutable_labels() = source.info.labels();
  (*header.mutable_labels())["copied_from"] =
      absl::StrCat(from.ToString(), "@", source.info.version());
  ASSIGN_OR_RETURN(BackupResult result, Backup(to, header, std::move(source.archive)));
  return result.version;
}

}  // namespace midwife::statestore
