#ifndef MIDWIFE_IMAGEBUILDER_BLOB_DIGEST_H_
#define MIDWIFE_IMAGEBUILDER_BLOB_DIGEST_H_

// The name of a blob in the image repository: its SHA-256, written as an OCI
// descriptor digest, "sha256:" + 64 lower-case hex digits (OCI image-spec,
// descriptor.md "Digests"; only the sha256 algorithm is accepted). Because a
// parsed digest holds only hex digits, a path built from it cannot escape the
// blob folder. Value type; safe to share between threads once built.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "core/sha256.h"

namespace midwife::imagebuilder {

class BlobDigest {
 public:
  // An empty digest names no blob (a default-constructed struct member).
  BlobDigest() = default;

  // Parses "sha256:<64 hex>" (hex in either case, kept lower-case).
  // INVALID_ARGUMENT naming the text otherwise.
  static absl::StatusOr<BlobDigest> Parse(std::string_view text);
  // Parses the 64 hex digits alone, as blob file names hold them.
  static absl::StatusOr<BlobDigest> FromHex(std::string_view hex);
  static BlobDigest FromSha256(const Sha256Digest& digest);
  static BlobDigest Of(std::string_view bytes);

  bool empty() const { return hex_.empty(); }
  const std::string& hex() const { return hex_; }
  std::string ToString() const { return "sha256:" + hex_; }
  // "sha256:" and the first 12 hex digits, for tables meant for people.
  std::string Short() const { return "sha256:" + hex_.substr(0, 12); }

  friend bool operator==(const BlobDigest&, const BlobDigest&) = default;
  friend auto operator<=>(const BlobDigest&, const BlobDigest&) = default;

 private:
  explicit BlobDigest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

// A blob as a manifest refers to it: what and how large.
struct StoredBlob {
  BlobDigest digest;
  uint64_t size = 0;

  friend bool operator==(const StoredBlob&, const StoredBlob&) = default;
};

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_BLOB_DIGEST_H_
