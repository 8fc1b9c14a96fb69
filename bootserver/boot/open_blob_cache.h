#ifndef MIDWIFE_BOOTSERVER_BOOT_OPEN_BLOB_CACHE_H_
#define MIDWIFE_BOOTSERVER_BOOT_OPEN_BLOB_CACHE_H_

// Keeps the blob files served lately open, each with its size and the
// identity it had when BlobVerifier passed it. Serving a module again then
// costs one stat(2) of its path instead of an open, three stats and a close:
// a storm asks for each of an image's hundred modules once per host. The
// stat still notices a file written to or replaced on disk, exactly as the
// verifier would, and the stale entry is dropped.
//
// Thread-safe.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "bootserver/boot/file_identity.h"
#include "bootserver/http/http_message.h"
#include "imagebuilder/blob_digest.h"

namespace midwife::bootserver {

class OpenBlobCache {
 public:
  struct Blob {
    std::shared_ptr<OpenFile> file;
    uint64_t size = 0;
    std::string path;  // Where it was opened (repository or site cache).
    FileIdentity identity;
  };

  // Open files kept at most; the least recently served go first.
  static constexpr size_t kDefaultCapacity = 1024;
  explicit OpenBlobCache(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // The cached blob `digest` if its path still holds the very file that was
  // verified; null otherwise (not cached, or changed, replaced or removed on
  // disk: then it is dropped, and its descriptor closed once no response
  // holds it).
  std::shared_ptr<const Blob> Find(const imagebuilder::BlobDigest& digest);
  // Remembers `blob`, which BlobVerifier has just passed.
  void Insert(const imagebuilder::BlobDigest& digest, Blob blob);

  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const Blob> blob;
    std::list<std::string>::iterator recency;
  };
  void Erase(const std::string& hex, const std::shared_ptr<const Blob>& blob);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by digest hex
  std::list<std::string> recency_;                  // most recently found first
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_OPEN_BLOB_CACHE_H_
