#include "statestore/backup_store.h"

#include <algorithm>
#include <chrono>
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

  rec::HostHead next = head.record;
  const uint64_t version = std::max<uint64_t>(next.next_version(), newest + 1);
  next.set_next_version(version + 1);
  next.add_versions(version);
  next.set_newest_sha256(sha256);
  next.set_updated_unix_ms(Now());

  rec::StoredVersion stored;
  v1::VersionInfo& info = *stored.mutable_info();
  info.set_mac(mac);
  info.set_version(version);
  info.set_created_unix_ms(next.updated_unix_ms());
  info.set_size(archive.size());
  info.set_sha256(sha256);
  info.set_kind(ToProtoKind(validated.kind));
  *info.mutable_labels() = header.labels();
  for (const auto& [k, v] : validated.labels) (*info.mutable_labels())[k] = v;
  WriteBatch batch;
  {
    ASSIGN_OR_RETURN(AtRest at_rest, ForRest(options_.keys, mac, version, archive));
    PutAtRest(mac, version, at_rest, stored, batch);
  }
  batch.puts.emplace_back(keys::Version(mac, version), stored.SerializeAsString());

  const std::set<uint64_t> pinned(next.pinned().begin(), next.pinned().end());
  const std::vector<uint64_t> all(next.versions().begin(), next.versions().end());
  const std::vector<uint64_t> prune = VersionsToPrune(all, pinned, options_.keep_newest);
  for (uint64_t old : prune) {
    ASSIGN_OR_RETURN(rec::StoredVersion doomed, LoadVersion(engine_, mac, old));
    batch.deletes.push_back(keys::Version(mac, old));
    for (uint32_t c = 0; c < doomed.chunk_count(); ++c) batch.deletes.push_back(keys::Chunk(mac, old, c));
  }
  next.clear_versions();
  for (uint64_t v : all) {
    if (!std::binary_search(prune.begin(), prune.end(), v)) next.add_versions(v);
  }
  batch.puts.emplace_back(keys::Head(mac), next.SerializeAsString());

  RETURN_IF_ERROR(engine_.Commit({{keys::Head(mac), head.raw}}, batch));
  return BackupResult{info, true};
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
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Head head, LoadHead(engine_, key));
    if (!head.raw) return absl::NotFoundError(absl::StrCat("no backup stored for host ", key));
    WriteBatch batch;
    batch.deletes.push_back(keys::Head(key));
    for (const std::string& prefix : {absl::StrCat("v/", key, "/"), absl::StrCat("d/", key, "/")}) {
      ASSIGN_OR_RETURN(auto rows, engine_.Scan(prefix, "", 0));
      for (auto& row : rows) batch.deletes.push_back(std::move(row.key));
    }
    absl::Status st = engine_.Commit({{keys::Head(key), head.raw}}, batch);
    if (st.ok()) return static_cast<uint32_t>(head.record.versions_size());
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
