#ifndef MIDWIFE_STATESTORE_SEALED_BLOB_H_
#define MIDWIFE_STATESTORE_SEALED_BLOB_H_

// The sealed format of an archive at rest: AES-256-GCM (NIST SP 800-38D)
// with a 96-bit nonce and a 128-bit tag.
//
// Byte layout (all sizes fixed but the ciphertext's):
//   offset  size  field
//   0       6     magic "MWSEAL"
//   6       1     format version, 1
//   7       1     algorithm, 1 = AES-256-GCM
//   8       8     key id: SealKeyId(key), names the key without revealing it
//   16      12    nonce
//   28      n     ciphertext (as long as the plaintext)
//   28+n    16    authentication tag
// So a sealed blob is kSealOverheadBytes longer than its plaintext.
//
// The associated data GCM authenticates is the 28-byte header followed by the
// caller's `aad`: altering the header, the ciphertext or the tag, or opening
// with other associated data (another host, another version), fails.
//
// Pure: no I/O besides RandomSealNonce(). Thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife::statestore {

inline constexpr std::string_view kSealMagic = "MWSEAL";
inline constexpr char kSealFormatVersion = 1;
inline constexpr char kSealAlgorithmAes256Gcm = 1;
inline constexpr size_t kSealKeyBytes = 32;
inline constexpr size_t kSealKeyIdBytes = 8;
inline constexpr size_t kSealNonceBytes = 12;
inline constexpr size_t kSealTagBytes = 16;
inline constexpr size_t kSealHeaderBytes = 8 + kSealKeyIdBytes + kSealNonceBytes;
inline constexpr size_t kSealOverheadBytes = kSealHeaderBytes + kSealTagBytes;
// EVP lengths are ints; archives are bounded far below this anyway.
inline constexpr size_t kSealMaxPlaintextBytes = size_t{1} << 30;

// The first 8 bytes of SHA-256("midwife sealed blob key id\0" || key): stable
// for a key, and one-way, so it may be stored and logged.
std::string SealKeyId(std::string_view key);

// 12 bytes from the system's CSPRNG. A fresh one for every Seal: GCM's
// secrecy and integrity both fail if a (key, nonce) pair is ever reused.
std::string RandomSealNonce();

// Encrypts `plaintext` into the layout above. INVALID_ARGUMENT if `key` is not
// 32 bytes, `nonce` not 12 bytes, or the plaintext over the limit.
absl::StatusOr<std::string> Seal(std::string_view key, std::string_view nonce, std::string_view aad,
                                 std::string_view plaintext);

struct SealedHeader {
  std::string key_id;  // kSealKeyIdBytes raw bytes.
  std::string nonce;
};

// Reads the header alone. DATA_LOSS if `sealed` is too short for header and
// tag, or has another magic, version or algorithm.
absl::StatusOr<SealedHeader> ReadSealedHeader(std::string_view sealed);

// Decrypts and authenticates. DATA_LOSS if the blob is malformed or fails
// authentication (altered bytes, other associated data, or a forged key id);
// FAILED_PRECONDITION if it names another key than `key`; INVALID_ARGUMENT if
// `key` is not 32 bytes. Never returns unauthenticated bytes.
absl::StatusOr<std::string> Open(std::string_view key, std::string_view aad,
                                 std::string_view sealed);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_SEALED_BLOB_H_
