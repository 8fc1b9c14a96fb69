#ifndef MIDWIFE_BOOTSERVER_BOOT_BLOB_CACHE_H_
#define MIDWIFE_BOOTSERVER_BOOT_BLOB_CACHE_H_

// A site boot server's cache of blobs pulled through from its upstream: a
// folder of read-only files named by the hex of their SHA-256, like the image
// repository's blob store, but owned by the boot server alone (the site's
// imported blobs live in the repository and are never looked at, let alone
// evicted, here; `imagebuilder gc` never sees this folder).
//
// Get(digest) serves a held blob, or fetches it through a BlobFetcher:
//  - single-flight: concurrent Gets of one missing digest make one fetch; the
//    others wait for it (at most `max_wait`) and are served from the cache;
//  - the fetched bytes go to "<dir>/.tmp-<pid>-<random>", are re-hashed from
//    that file, and only when their SHA-256 is the digest asked for are they
//    fsynced and renamed to "<dir>/<hex>". A failed or mismatched fetch leaves
//    nothing behind, and the next Get tries again;
//  - the bound: after a blob is kept, while the cache holds more than
//    `max_bytes`, the least recently served blob not named by an image served
//    within `pin_window` (NoteImageServed) is removed. When every blob is
//    pinned, the cache stays over its bound rather than break a boot.
//
// A removed blob that a response still holds open keeps its bytes until the
// response is done (unlink semantics), so eviction never cuts a transfer.
//
// Thread-safety: all methods may be called from any thread. One process per
// cache folder (Open removes temporaries it finds there).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bootserver/boot/single_flight.h"
#include "bootserver/http/http_message.h"
#include "imagebuilder/blob_digest.h"

namespace midwife::bootserver {

// Default bound of a site cache (flag --cache-bytes): room for a few dozen
// ESXi images of ~600 MiB.
inline constexpr uint64_t kDefaultSiteCacheBytes = 20ull << 30;

// Writes the bytes of blob `digest` to `fd` (unverified: the cache checks
// them). The fd is a fresh, empty, writable file.
using BlobFetcher = std::function<absl::Status(const imagebuilder::BlobDigest& digest, int fd)>;

struct BlobCacheOptions {
  std::string dir;  // created if missing
  uint64_t max_bytes = kDefaultSiteCacheBytes;
  // A blob named by an image served this recently is not evicted: the boot
  // server's --boot-window, so a storm under way keeps its image.
  std::chrono::seconds pin_window{600};
  // How long a request waits for another request's fetch of the same blob.
  std::chrono::milliseconds max_wait{std::chrono::minutes(5)};
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
};

struct CachedBlob {
  std::shared_ptr<OpenFile> file;  // open for reading
  uint64_t size = 0;
  std::string path;
};

struct BlobCacheCounters {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> fetches_ok{0};
  std::atomic<uint64_t> fetches_failed{0};
  std::atomic<uint64_t> fetched_bytes{0};
  std::atomic<uint64_t> waits{0};  // requests served by another's fetch
  std::atomic<uint64_t> evictions{0};
};

class BlobCache {
 public:
  // Opens (creating) the folder, removes stale temporaries, and takes the
  // blobs already there as cached, least recently served by mtime.
  static absl::StatusOr<std::unique_ptr<BlobCache>> Open(BlobCacheOptions options,
                                                         BlobFetcher fetcher);

  // The blob if held, marked as served now; NOT_FOUND otherwise.
  absl::StatusOr<CachedBlob> Find(const imagebuilder::BlobDigest& digest);
  // The blob, fetched through if not held (see above). Errors: those of the
  // fetcher (UNAVAILABLE, NOT_FOUND, ...), DATA_LOSS when the fetched bytes
  // are not the digest's, DEADLINE_EXCEEDED when another's fetch took longer
  // than max_wait.
  absl::StatusOr<CachedBlob> Get(const imagebuilder::BlobDigest& digest);
  // Keeps `bytes` (checked against `digest`) as if fetched; for a manifest
  // that arrived by name.
  absl::Status Insert(const imagebuilder::BlobDigest& digest, std::string_view bytes);
  bool Contains(const imagebuilder::BlobDigest& digest) const;

  // Pins `digests` (what an image names: manifest, config, modules) for
  // pin_window from now.
  void NoteImageServed(const std::vector<imagebuilder::BlobDigest>& digests);

  uint64_t bytes() const;
  size_t count() const;
  const BlobCacheCounters& counters() const { return counters_; }
  const BlobCacheOptions& options() const { return options_; }

 private:
  struct Entry {
    uint64_t size = 0;
    std::chrono::steady_clock::time_point last_served;
  };
  BlobCache(BlobCacheOptions options, BlobFetcher fetcher);
  std::string PathOf(const std::string& hex) const { return options_.dir + "/" + hex; }
  // Fetches into a temporary, verifies, renames, records, evicts.
  absl::Status FetchAndKeep(const imagebuilder::BlobDigest& digest, const BlobFetcher& fetcher);
  // REQUIRES: mu_ held. Evicts until within the bound, sparing `keep`.
  void EvictLocked(const std::string& keep);

  const BlobCacheOptions options_;
  const BlobFetcher fetcher_;
  SingleFlight flights_;
  BlobCacheCounters counters_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by hex
  uint64_t bytes_ = 0;                   // sum of entries_' sizes
  std::map<std::string, std::chrono::steady_clock::time_point> pinned_until_;  // by hex
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_BLOB_CACHE_H_
