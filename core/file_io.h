#ifndef MIDWIFE_CORE_FILE_IO_H_
#define MIDWIFE_CORE_FILE_IO_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife {

// Reads a whole regular file of at most `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 30);

// Writes `contents` to `path` so that a crash leaves either the old file or
// the whole new one: write to a temporary name in the same folder, fsync,
// rename, fsync the folder. `mode` applies to the new file.
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents,
                                 unsigned mode = 0644);

// Reads a token or key file, trimming one trailing newline. Refuses a file
// that the group or others may read: a secret readable by all is no secret.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// Reads a binary key file byte for byte (nothing trimmed), at most
// `max_bytes`, refusing it like ReadSecretFile if the group or others may read it.
absl::StatusOr<std::string> ReadSecretBytes(const std::string& path, size_t max_bytes);

// Returns the secret in `path`; if the file does not exist, creates it
// (mode 0600) holding `bytes` random bytes as hex.
absl::StatusOr<std::string> ReadOrCreateSecretFile(const std::string& path, size_t bytes = 32);

// `bytes` cryptographically random bytes, hex-encoded.
std::string RandomHex(size_t bytes);

}  // namespace midwife

#endif  // MIDWIFE_CORE_FILE_IO_H_
