#include "imagebuilder/blob_digest.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"

namespace midwife::imagebuilder {
namespace {

constexpr std::string_view kAlgorithmPrefix = "sha256:";
constexpr size_t kHexDigits = 64;

}  // namespace

absl::StatusOr<BlobDigest> BlobDigest::Parse(std::string_view text) {
  if (!text.starts_with(kAlgorithmPrefix)) {
    return absl::InvalidArgumentError("digest \"" + std::string(text.substr(0, 80)) +
                                      "\": expected sha256:<64 hex digits>");
  }
  return FromHex(text.substr(kAlgorithmPrefix.size()));
}

absl::StatusOr<BlobDigest> BlobDigest::FromHex(std::string_view hex) {
  bool ok = hex.size() == kHexDigits;
  for (char c : hex) ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!ok) {
    return absl::InvalidArgumentError("digest \"sha256:" + std::string(hex.substr(0, 80)) +
                                      "\": expected 64 hex digits after sha256:");
  }
  return BlobDigest(absl::AsciiStrToLower(std::string(hex)));
}

BlobDigest BlobDigest::FromSha256(const Sha256Digest& digest) { return BlobDigest(ToHex(digest)); }

BlobDigest BlobDigest::Of(std::string_view bytes) { return BlobDigest(Sha256Hex(bytes)); }

}  // namespace midwife::imagebuilder
