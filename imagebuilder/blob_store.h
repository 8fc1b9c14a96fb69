#ifndef MIDWIFE_IMAGEBUILDER_BLOB_STORE_H_
#define MIDWIFE_IMAGEBUILDER_BLOB_STORE_H_

// The content-addressed half of the image repository: one folder holding each
// blob once, as a read-only file named by the hex of its SHA-256
// (<repo>/blobs/sha256/<hex>, see oci_format.h).
//
// Crash safety: Put streams into "<dir>/.tmp-<pid>-<random>" in the same folder
// while hashing (one pass, a fixed buffer), fsyncs it, renames it to its final
// name and fsyncs the folder. So a blob under its final name is always whole;
// after a crash, what may be left is a temporary, which no reader looks at
// and gc removes. Any failure of Put removes its temporary.
//
// Thread-safety: all methods may run at once from many threads and processes,
// except that Remove and RemoveTemporary REQUIRE the caller to hold the
// repository's write lock (image_repository.h): only then is a temporary known
// to be stale, and a blob known to be unreferenced. Two Puts of the same
// content race harmlessly (rename is atomic; the bytes are the same).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/byte_source.h"

namespace midwife::imagebuilder {

// Largest blob accepted; an ESXi module is under 1 GiB, an initrd a few.
inline constexpr uint64_t kMaxBlobBytes = 16ull << 30;
// Bytes copied per read and write while storing or hashing.
inline constexpr size_t kCopyBufferBytes = 1 << 20;
inline constexpr std::string_view kTemporaryPrefix = ".tmp-";

class BlobStore {
 public:
  // `dir` is the blob folder itself; it must exist.
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }

  struct PutResult {
    StoredBlob blob;
    bool created = false;  // false: the store already held these bytes
  };
  // Stores everything `source` yields. `what` names the input in errors
  // ("ESXi.iso: S.V00"). A full disk is RESOURCE_EXHAUSTED; more than
  // `max_bytes` is INVALID_ARGUMENT; errors of `source` come back as they are.
  absl::StatusOr<PutResult> Put(ByteSource& source, std::string_view what,
                                uint64_t max_bytes = kMaxBlobBytes);
  absl::StatusOr<PutResult> PutBytes(std::string_view bytes, std::string_view what);

  // Where the blob lives (whether or not it exists): for open() and sendfile().
  std::string PathOf(const BlobDigest& digest) const;
  bool Contains(const BlobDigest& digest) const;

  // The blob's bytes, checked against its digest: DATA_LOSS when they differ,
  // NOT_FOUND when absent, INVALID_ARGUMENT when larger than `max_bytes`.
  absl::StatusOr<std::string> ReadVerified(const BlobDigest& digest, size_t max_bytes) const;

  // Re-hashes the blob from disk, streaming: OK, DATA_LOSS (naming the digest
  // its bytes have now) or NOT_FOUND. `on_bytes` gets the running total.
  absl::Status Verify(const BlobDigest& digest,
                      const std::function<void(uint64_t)>& on_bytes = {}) const;

  // Every blob under its final name, sorted by digest; other names are skipped.
  absl::StatusOr<std::vector<StoredBlob>> List() const;
  // File names of temporaries (kTemporaryPrefix...), sorted.
  absl::StatusOr<std::vector<std::string>> ListTemporaries() const;

  // REQUIRES: the repository's write lock. Removing an absent blob is OK.
  absl::Status Remove(const BlobDigest& digest);
  // REQUIRES: the repository's write lock; `name` from ListTemporaries().
  absl::Status RemoveTemporary(const std::string& name);

 private:
  std::string dir_;
};

// Blobs a write operation (import, compose) created, removed again unless the
// operation commits: a failed import leaves the store as it found it, instead
// of waiting for gc. REQUIRES: the repository's write lock for its lifetime,
// so that nothing else can have come to reference those blobs.
class NewBlobs {
 public:
  explicit NewBlobs(BlobStore& store) : store_(store) {}
  ~NewBlobs();
  NewBlobs(const NewBlobs&) = delete;
  NewBlobs& operator=(const NewBlobs&) = delete;

  // Records `result` if it created a blob; returns its blob.
  StoredBlob Track(const BlobStore::PutResult& result);
  // Keeps the blobs: the operation referenced them from a stored manifest.
  void Commit() { committed_ = true; }

  // Blobs created, and their bytes.
  size_t count() const { return created_.size(); }
  uint64_t bytes() const;

 private:
  BlobStore& store_;
  std::vector<StoredBlob> created_;
  bool committed_ = false;
};

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_BLOB_STORE_H_
