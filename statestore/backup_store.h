#ifndef MIDWIFE_STATESTORE_BACKUP_STORE_H_
#define MIDWIFE_STATESTORE_BACKUP_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/mac_address.h"
#include "core/state_archive.h"
#include "proto/statestore.pb.h"
#include "proto/statestore_records.pb.h"
#include "statestore/state_keys.h"
#include "statestore/storage_engine.h"

namespace midwife::statestore {

struct BackupStoreOptions {
  // Versions kept per host besides pinned ones (flag --keep, default 10).
  uint32_t keep_newest = 10;
  // Largest archive accepted, compressed (flag --max-backup-bytes, 64 MiB).
  uint64_t max_backup_bytes = 64ull << 20;
  StateArchiveLimits archive_limits;
  // Clock seam for tests; defaults to the system clock.
  std::function<int64_t()> now_unix_ms;
  // With a current key, every new version is sealed (AES-256-GCM,
  // statestore/sealed_blob.h) before it reaches the engine; without one,
  // archives are stored as they are. Versions are read with whichever key of
  // the ring sealed them; plaintext versions stay readable either way.
  StateKeyRing keys;
};

struct BackupResult {
  v1::VersionInfo version;
  bool created = false;  // False: identical to the newest version, which is returned.
};

struct RestoredBackup {
  v1::VersionInfo info;
  std::string archive;
};

struct RekeyReport {
  uint64_t hosts = 0;
  uint64_t versions = 0;  // Looked at.
  uint64_t resealed = 0;  // Were plaintext or under an old key; now under the current key.
};

// How stored versions are kept at rest, for the serve log and rotation: an
// old key may be retired once no version is under it.
struct AtRestCounts {
  uint64_t plaintext = 0;
  uint64_t current_key = 0;
  uint64_t old_keys = 0;
  uint64_t unknown_keys = 0;  // Sealed with a key this store was not given: unreadable.
};

struct HostPage {
  std::vector<v1::HostSummary> hosts;
  std::string next_page_token;
};

// The state store's logic, free of gRPC: versions, dedup, retention,
// compare-and-set, validation, digest checks and encryption at rest over a
// StorageEngine.
//
// At rest, a version is the archive itself (no key) or a sealed blob whose
// associated data is "midwife statestore archive mac=<canonical MAC>
// version=<decimal>", so bytes moved to another host's or version's keys fail
// authentication. The digest in VersionInfo, used for dedup and checked on
// every restore, is always the plaintext archive's SHA-256.
// Thread-safe: concurrent calls for one host are serialized by the engine's
// compare-and-set on the host's head record (retried internally unless the
// caller asked for an expected version).
class BackupStore {
 public:
  // `engine` must outlive this object.
  BackupStore(StorageEngine& engine, BackupStoreOptions options);

  // Validates `archive` against `header.kind` (UNSPECIFIED: detected) and
  // stores it as the host's next version, pruning beyond retention in the
  // same atomic commit. INVALID_ARGUMENT for a bad archive or labels, ABORTED
  // when header.expected_version does not match; nothing is stored then.
  absl::StatusOr<BackupResult> Backup(const MacAddress& mac, const v1::BackupHeader& header,
                                      std::string archive);

  // `version` 0: the newest. NOT_FOUND if absent; DATA_LOSS (never the bytes)
  // if the stored bytes fail authentication or do not match their digest;
  // FAILED_PRECONDITION if they are sealed with a key this store was not given.
  absl::StatusOr<RestoredBackup> Restore(const MacAddress& mac, uint64_t version);

  absl::StatusOr<v1::VersionInfo> Stat(const MacAddress& mac);
  // Newest first.
  absl::StatusOr<std::vector<v1::VersionInfo>> ListVersions(const MacAddress& mac);
  absl::StatusOr<HostPage> ListHosts(uint32_t page_size, const std::string& page_token);
  // Returns how many versions were deleted. NOT_FOUND for an unknown host.
  absl::StatusOr<uint32_t> DeleteHost(const MacAddress& mac);
  absl::StatusOr<v1::VersionInfo> Pin(const MacAddress& mac, uint64_t version, bool pinned);
  // Stores version `version` (0: newest) of `from` as a new version of `to`,
  // labelled copied_from=<from>@<version>.
  absl::StatusOr<v1::VersionInfo> Copy(const MacAddress& from, const MacAddress& to,
                                       uint64_t version);

  // Reseals every version that is plaintext or sealed with an old key under
  // the current key, with a fresh nonce, one commit per version (conditioned
  // on the host's head and the version's record being unchanged; a version
  // pruned meanwhile is skipped). FAILED_PRECONDITION without a current key;
  // a version that cannot be read (key missing, corrupt) stops the run with
  // its error naming it: versions done so far stay done, and a second run
  // picks up where this one stopped.
  // REQUIRES: no concurrent writer of this engine (`statestore rekey` runs
  // with the server stopped; RocksDB's lock enforces it).
  absl::StatusOr<RekeyReport> Rekey();

  // Reads every version record (not the archives). Linear in versions.
  absl::StatusOr<AtRestCounts> CountAtRest();

  // Deletes archive chunks that no version record names and that the
  // previous sweep (whose findings `suspects` carries in and out, as version
  // keys) already found unreferenced: leftovers of a writer that died between
  // writing chunks and committing their version, or of cleanups cut short.
  // Run it every few minutes (OrphanSweeper); the first run only records.
  // Safe against writers at any time: each delete checks that the version
  // record is still absent, and a writer's final commit checks that its
  // chunks are still present. Returns how many chunk keys it deleted.
  // Also deletes host heads that hold no version (a staged writer's claim on
  // a new host, left by a writer that died), found the same twice and
  // unchanged: a writer still at work then fails its final compare and
  // starts over.
  absl::StatusOr<size_t> SweepOrphanChunks(std::set<std::string>& suspects);

  // A host's head record as read, with its compare-and-set token (defined in
  // backup_store.cc, where alone it is used).
  struct Head;

 private:
  // A head with one more version, and the versions retention drops from it
  // (with their chunk counts).
  struct NextHead {
    records::v1::HostHead head;
    std::vector<std::pair<uint64_t, uint32_t>> pruned;
  };
  absl::StatusOr<NextHead> WithVersion(const std::string& mac,
                                       const records::v1::HostHead& current, uint64_t version,
                                       const std::string& sha256, int64_t now);

  // A backup too large for one commit of the engine (etcd's request limit):
  //  1. claim the version number on the head (compare-and-set), so no other
  //     writer, on this frontend or another, writes chunks under it;
  //  2. write the chunks in as many commits as the engine's limits need,
  //     each requiring its chunk keys absent; nothing refers to them yet;
  //  3. commit the version record and the head in one last commit that
  //     checks the head (the compare-and-set for expected_version too) and
  //     that every chunk still exists, dropping retention's version records.
  // Readers reach chunks only through a version record named by the head, so
  // they never see half a version. The pruned versions' chunks are deleted
  // after step 3; a writer that dies before step 3 leaves chunks that
  // SweepOrphanChunks collects. On RocksDB (no limits) this is never used.
  absl::StatusOr<BackupResult> StagedBackup(const std::string& mac, const Head& head,
                                            const v1::BackupHeader& header,
                                            const records::v1::StoredVersion& stored,
                                            const std::string& at_rest_bytes);
  // Deletes `chunk_keys` in commits the engine can carry, each only while
  // `version_key` is absent.
  absl::Status DeleteUnreferencedChunks(const std::string& version_key,
                                        const std::vector<std::string>& chunk_keys);

  // The newest version of `head` when `sha256` is its digest (and the
  // header's expectations hold); nullopt when the backup must be stored.
  absl::StatusOr<std::optional<BackupResult>> Unchanged(const std::string& mac, const Head& head,
                                                        const v1::BackupHeader& header,
                                                        const std::string& sha256);
  // Stores the backup over `head`, which the commit checks is still current.
  absl::StatusOr<BackupResult> TryBackup(const std::string& mac, const Head& head,
                                         const v1::BackupHeader& header,
                                         const StateArchiveInfo& validated,
                                         const std::string& archive, const std::string& sha256);
  // The archive of `stored` (version `v` of `mac`): chunks joined, unsealed,
  // length and digest checked.
  absl::StatusOr<std::string> ReadArchive(const std::string& mac, uint64_t v,
                                          const records::v1::StoredVersion& stored);
  int64_t Now() const;

  StorageEngine& engine_;
  BackupStoreOptions options_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_BACKUP_STORE_H_
