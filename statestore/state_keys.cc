#include "statestore/state_keys.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "statestore/sealed_blob.h"

namespace midwife::statestore {
namespace {

absl::StatusOr<StateKey> MakeKey(std::string bytes, const std::string& what) {
  if (bytes.size() != kSealKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " holds ", bytes.size(), " bytes; a state key is exactly ", kSealKeyBytes,
        " random bytes (create one with: head -c 32 /dev/urandom > FILE; chmod 600 FILE)"));
  }
  StateKey key;
  key.id = SealKeyId(bytes);
  key.bytes = std::move(bytes);
  return key;
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  // A few bytes past the size, so that a wrong size is reported as such.
  return ReadSecretBytes(path, 4096);
}

}  // namespace

std::string KeyIdHex(std::string_view id) {
  return absl::BytesToHexString(absl::string_view(id.data(), id.size()));
}

absl::StatusOr<StateKeyRing> StateKeyRing::FromKeys(std::optional<std::string> current,
                                                    std::vector<std::string> old) {
  StateKeyRing ring;
  if (current) {
    absl::StatusOr<StateKey> key = MakeKey(*std::move(current), "the current state key");
    if (!key.ok()) return key.status();
    ring.current_ = *std::move(key);
  }
  for (std::string& bytes : old) {
    absl::StatusOr<StateKey> key = MakeKey(std::move(bytes), "an old state key");
    if (!key.ok()) return key.status();
    if (ring.Find(key->id) == nullptr) ring.old_.push_back(*std::move(key));
  }
  return ring;
}

absl::StatusOr<StateKeyRing> StateKeyRing::Load(const std::string& current_file,
                                                const std::vector<std::string>& old_files) {
  if (current_file.empty() && !old_files.empty()) {
    return absl::InvalidArgumentError(
        "--old-state-key-file needs --state-key-file: new backups would be stored unencrypted");
  }
  StateKeyRing ring;
  if (!current_file.empty()) {
    absl::StatusOr<std::string> bytes = ReadKeyFile(current_file);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<StateKey> key =
        MakeKey(*std::move(bytes), absl::StrCat("state key file ", current_file));
    if (!key.ok()) return key.status();
    ring.current_ = *std::move(key);
  }
  for (const std::string& file : old_files) {
    absl::StatusOr<std::string> bytes = ReadKeyFile(file);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<StateKey> key =
        MakeKey(*std::move(bytes), absl::StrCat("old state key file ", file));
    if (!key.ok()) return key.status();
    if (ring.Find(key->id) == nullptr) ring.old_.push_back(*std::move(key));
  }
  return ring;
}

const StateKey* StateKeyRing::Find(std::string_view id) const {
  if (current_ && current_->id == id) return &*current_;
  for (const StateKey& key : old_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

}  // namespace midwife::statestore
