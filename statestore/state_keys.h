#ifndef MIDWIFE_STATESTORE_STATE_KEYS_H_
#define MIDWIFE_STATESTORE_STATE_KEYS_H_

// The keys that encrypt host state at rest (statestore/sealed_blob.h): one
// current key that seals every new version, and old keys still accepted for
// reading versions sealed before a rotation. See docs/SECURITY.md.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace midwife::statestore {

struct StateKey {
  std::string id;     // SealKeyId(bytes): kSealKeyIdBytes raw bytes.
  std::string bytes;  // kSealKeyBytes raw bytes.
};

// Copyable value; holds key bytes, so never log it (log IdHex() instead).
class StateKeyRing {
 public:
  // No keys: archives are stored as plaintext.
  StateKeyRing() = default;

  // `current` seals new versions (nullopt: none); `old` are only read. Each
  // key must be kSealKeyBytes long (INVALID_ARGUMENT otherwise); an old key
  // equal to the current one, or repeated, is dropped.
  static absl::StatusOr<StateKeyRing> FromKeys(std::optional<std::string> current,
                                               std::vector<std::string> old);

  // Reads key files: each exactly 32 raw bytes (`head -c 32 /dev/urandom`),
  // refused if the group or others may read it (PERMISSION_DENIED) or if it
  // has another size (INVALID_ARGUMENT naming the file). An empty
  // `current_file` with no `old_files` makes an empty ring; old files without
  // a current one are refused (new backups would silently be plaintext).
  static absl::StatusOr<StateKeyRing> Load(const std::string& current_file,
                                           const std::vector<std::string>& old_files);

  // The key new versions are sealed with; nullptr when there is none.
  const StateKey* current() const { return current_ ? &*current_ : nullptr; }
  // The key with this id, current or old; nullptr if the ring lacks it.
  const StateKey* Find(std::string_view id) const;
  size_t old_count() const { return old_.size(); }

 private:
  std::optional<StateKey> current_;
  std::vector<StateKey> old_;
};

// Lower-case hex of a key id, for logs and messages.
std::string KeyIdHex(std::string_view id);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_STATE_KEYS_H_
