#ifndef MIDWIFE_STATESTORE_OFFLINE_REKEY_H_
#define MIDWIFE_STATESTORE_OFFLINE_REKEY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "statestore/backup_store.h"

namespace midwife::statestore {

struct RekeyOptions {
  std::string data_dir;                          // As given to `statestore serve --data`.
  std::string state_key_file;                    // The key to seal everything under.
  std::vector<std::string> old_state_key_files;  // Keys versions may still be sealed with.
};

// `statestore rekey`: opens the data folder's database itself and reseals
// every version not already under the current key (BackupStore::Rekey), then
// compacts the database so no live file keeps the old bytes (the file
// system may, in freed blocks: see docs/SECURITY.md).
// The server must be stopped: RocksDB allows one process per folder, so
// while it runs this fails (UNAVAILABLE, saying so) and changes nothing.
// NOT_FOUND if the folder holds no state store.
absl::StatusOr<RekeyReport> RekeyDataDir(const RekeyOptions& options);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_OFFLINE_REKEY_H_
