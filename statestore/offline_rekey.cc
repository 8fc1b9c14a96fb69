#include "statestore/offline_rekey.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "statestore/rocksdb_engine.h"

namespace midwife::statestore {

absl::StatusOr<RekeyReport> RekeyDataDir(const RekeyOptions& options) {
  if (options.state_key_file.empty()) {
    return absl::InvalidArgumentError("rekey needs --state-key-file: the key to seal under");
  }
  BackupStoreOptions store_options;
  ASSIGN_OR_RETURN(store_options.keys,
                   StateKeyRing::Load(options.state_key_file, options.old_state_key_files));
  const std::string db_dir = options.data_dir + "/rocksdb";
  std::error_code ec;
  if (!std::filesystem::is_directory(db_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(options.data_dir, " holds no state store (no ", db_dir, ")"));
  }
  absl::StatusOr<std::unique_ptr<RocksDbEngine>> engine = RocksDbEngine::Open(db_dir);
  if (!engine.ok()) {
    return absl::UnavailableError(absl::StrCat(
        engine.status().message(),
        " (rekey needs the database to itself: stop `statestore serve` on this folder first)"));
  }
  BackupStore store(**engine, std::move(store_options));
  ASSIGN_OR_RETURN(RekeyReport report, store.Rekey());
  // Resealing overwrote values; compaction drops the files still holding the
  // old bytes (plaintext, or sealed under a retired key).
  if (report.resealed > 0) RETURN_IF_ERROR((*engine)->CompactAll());
  return report;
}

}  // namespace midwife::statestore
