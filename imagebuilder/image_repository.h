#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_REPOSITORY_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_REPOSITORY_H_

// The image repository: images by name@version in an OCI image layout
// (oci_format.h), over a content-addressed blob store (blob_store.h). What the
// boot server calls: Open, Resolve, BlobPath, VerifyBlob.
//
// Readers take no lock and always see a consistent repository: blobs are
// immutable and whole under their names, and index.json is replaced
// atomically, only after every blob it will name is durable. So an index
// entry never names a missing blob, whatever moment a crash or a full disk
// strikes. (A reader holding a blob open keeps its bytes even if gc unlinks
// it meanwhile.)
//
// Writers (import, compose, remove, gc) first take the write lock, an flock()
// on <repo>/.lock held for the whole operation: one writer at a time, and gc
// never runs between an import storing a blob and referencing it.
//
// Images are immutable: Publish refuses a name@version that exists with other
// content, and is a no-op for the same content.
//
// Thread-safety: const methods are safe from any number of threads and
// processes at once. Nothing is cached: a caller that wants a cache can key it
// by manifest digest, whose meaning never changes.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/blob_store.h"
#include "imagebuilder/image_manifest.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/oci_format.h"

namespace midwife::imagebuilder {

inline constexpr char kDefaultRepositoryDir[] = "data/repo";
inline constexpr std::string_view kLockFile = ".lock";

// Proof that the caller holds the repository's write lock; released when
// destroyed. Movable, not copyable.
class WriteLock {
 public:
  WriteLock(WriteLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  WriteLock& operator=(WriteLock&& other) noexcept;
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;
  ~WriteLock();

 private:
  friend class ImageRepository;
  explicit WriteLock(int fd) : fd_(fd) {}
  int fd_;
};

struct IndexEntry {
  ImageRef ref;
  BlobDigest digest;  // of the manifest
  uint64_t size = 0;
};

struct ResolvedImage {
  ImageManifest image;
  BlobDigest digest;  // of the manifest
};

class ImageRepository {
 public:
  // Opens the repository in `dir`. Without an oci-layout file there:
  // NOT_FOUND, or, with `create_if_missing`, an empty repository is made.
  static absl::StatusOr<std::unique_ptr<ImageRepository>> Open(const std::string& dir,
                                                               bool create_if_missing = false);

  const std::string& dir() const { return dir_; }
  BlobStore& blobs() { return blobs_; }
  const BlobStore& blobs() const { return blobs_; }

  // Every image with a name, sorted by name then version.
  absl::StatusOr<std::vector<IndexEntry>> ListImages() const;
  // index.json as stored, entries without a name included (gc keeps those).
  absl::StatusOr<OciIndex> ReadIndex() const;

  // The image `ref` names: NOT_FOUND when there is none; DATA_LOSS when its
  // manifest or config blob does not match its digest.
  absl::StatusOr<ResolvedImage> Resolve(const ImageRef& ref) const;
  absl::StatusOr<ImageManifest> ReadImage(const BlobDigest& manifest_digest) const;
  absl::StatusOr<OciManifest> ReadOciManifest(const BlobDigest& manifest_digest) const;

  // The file holding a blob, for open() and sendfile(); exists if some image
  // names the digest. Blobs never change under their name.
  std::string BlobPath(const BlobDigest& digest) const { return blobs_.PathOf(digest); }
  // Re-hashes a blob: OK, DATA_LOSS or NOT_FOUND (see BlobStore::Verify).
  absl::Status VerifyBlob(const BlobDigest& digest) const { return blobs_.Verify(digest); }

  // Takes the write lock without waiting: UNAVAILABLE when another writer has it.
  absl::StatusOr<WriteLock> LockForWriting();

  struct PublishResult {
    BlobDigest digest;  // of the manifest
    bool created = false;
  };
  // Stores `image`'s config and manifest blobs, then names it in index.json.
  // REQUIRES: every module's blob is stored. ALREADY_EXISTS when image.ref
  // names other content; for the same content, nothing is written and
  // `created` is false.
  absl::StatusOr<PublishResult> Publish(const WriteLock& lock, const ImageManifest& image);

  // Removes the name; the blobs stay until gc. NOT_FOUND when absent.
  absl::Status Remove(const WriteLock& lock, const ImageRef& ref);

 private:
  explicit ImageRepository(std::string dir);
  absl::Status WriteIndex(const OciIndex& index);

  std::string dir_;
  BlobStore blobs_;
};

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_REPOSITORY_H_
