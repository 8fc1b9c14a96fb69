#include "bootserver/boot/blob_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/status_macros.h"

namespace midwife::bootserver {
namespace {

using imagebuilder::BlobDigest;

constexpr char kTemporaryPrefix[] = ".tmp-";
constexpr size_t kHashBufferBytes = 1 << 20;

absl::Status Errno(const std::string& what, int error) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// The SHA-256 of the file open at `fd`, from its start, and its size.
absl::StatusOr<std::pair<BlobDigest, uint64_t>> HashFile(int fd, const std::string& path) {
  Sha256 hash;
  std::string buffer(kHashBufferBytes, '\0');
  uint64_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read back " + path, errno);
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return std::make_pair(BlobDigest::FromSha256(hash.Finish()), offset);
}

absl::Status WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write to site cache", errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

void SyncFolder(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

BlobCache::BlobCache(BlobCacheOptions options, BlobFetcher fetcher)
    : options_(std::move(options)), fetcher_(std::move(fetcher)) {}

absl::StatusOr<std::unique_ptr<BlobCache>> BlobCache::Open(BlobCacheOptions options,
                                                           BlobFetcher fetcher) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Errno("cannot create site cache folder " + options.dir, ec.value());
  std::unique_ptr<BlobCache> cache(new BlobCache(std::move(options), std::move(fetcher)));
  const auto now = cache->options_.now();
  const auto wall_now = std::filesystem::file_time_type::clock::now();
  std::lock_guard lock(cache->mu_);
  for (const auto& item : std::filesystem::directory_iterator(cache->options_.dir, ec)) {
    const std::string name = item.path().filename().string();
    if (name.starts_with(kTemporaryPrefix)) {
      // A fetch cut short by a crash: never verified, never served.
      std::filesystem::remove(item.path(), ec);
      continue;
    }
    if (!BlobDigest::FromHex(name).ok() || !item.is_regular_file(ec)) continue;
    const uint64_t size = item.file_size(ec);
    const auto age = wall_now - item.last_write_time(ec);
    cache->entries_[name] = {size, now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(age)};
    cache->bytes_ += size;
  }
  if (ec) return Errno("cannot list site cache folder " + cache->options_.dir, ec.value());
  cache->EvictLocked("");
  return cache;
}

absl::StatusOr<CachedBlob> BlobCache::Find(const BlobDigest& digest) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(digest.hex());
  if (it == entries_.end()) return absl::NotFoundError("site cache holds no " + digest.ToString());
  // Opened under the lock: eviction cannot remove it between lookup and open.
  const std::string path = PathOf(digest.hex());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // Removed behind the cache's back: forget it, fetch it again.
    bytes_ -= it->second.size;
    entries_.erase(it);
    return absl::NotFoundError("site cache lost " + path);
  }
  it->second.last_served = options_.now();
  return CachedBlob{std::make_shared<OpenFile>(fd), it->second.size, path};
}

bool BlobCache::Contains(const BlobDigest& digest) const {
  std::lock_guard lock(mu_);
  return entries_.count(digest.hex()) > 0;
}

absl::StatusOr<CachedBlob> BlobCache::Get(const BlobDigest& digest) {
  if (auto held = Find(digest); held.ok()) {
    ++counters_.hits;
    return held;
  }
  SingleFlight::Outcome outcome = flights_.Do(digest.hex(), options_.max_wait,
                                              [&] { return FetchAndKeep(digest, fetcher_); });
  if (!outcome.status.ok()) return outcome.status;
  if (!outcome.led) ++counters_.waits;
  auto held = Find(digest);
  if (!held.ok()) {
    return absl::UnavailableError(absl::StrCat(digest.ToString(),
                                               " was evicted right after its fetch; the site "
                                               "cache bound is too small for the images served"));
  }
  return held;
}

absl::Status BlobCache::Insert(const BlobDigest& digest, std::string_view bytes) {
  if (Contains(digest)) return absl::OkStatus();
  BlobFetcher write = [bytes](const BlobDigest&, int fd) -> absl::Status {
    return WriteAll(fd, bytes);
  };
  return flights_.Do(digest.hex(), options_.max_wait, [&] { return FetchAndKeep(digest, write); })
      .status;
}

absl::Status BlobCache::FetchAndKeep(const BlobDigest& digest, const BlobFetcher& fetcher) {
  // Another request's fetch may have finished between our lookup and now.
  if (Contains(digest)) return absl::OkStatus();
  const std::string temporary =
      absl::StrCat(options_.dir, "/", kTemporaryPrefix, static_cast<int>(::getpid()), "-", RandomHex(8));
  const int fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create " + temporary, errno);
  auto fail = [&](absl::Status status) {
    ::close(fd);
    ::unlink(temporary.c_str());
    ++counters_.fetches_failed;
    LogEvent("site_cache.fetch_failed",
             {{"digest", digest.ToString()}, {"reason", std::string(status.message())}});
    return status;
  };
  if (absl::Status fetched = fetcher(digest, fd); !fetched.ok()) return fail(fetched);
  auto hashed = HashFile(fd, temporary);
  if (!hashed.ok()) return fail(hashed.status());
  const auto& [actual, size] = *hashed;
  if (actual != digest) {
    return fail(absl::DataLossError(absl::StrCat("upstream sent ", size, " bytes for ",
                                                 digest.ToString(), " whose digest is ",
                                                 actual.ToString(), "; not kept")));
  }
  if (::fsync(fd) != 0) return fail(Errno("cannot sync " + temporary, errno));
  ::fchmod(fd, 0444);
  ::close(fd);
  const std::string path = PathOf(digest.hex());
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    ++counters_.fetches_failed;
    return Errno("cannot rename into " + path, error);
  }
  SyncFolder(options_.dir);
  ++counters_.fetches_ok;
  counters_.fetched_bytes += size;
  LogEvent("site_cache.fetched", {{"digest", digest.ToString()}, {"bytes", std::to_string(size)}});
  std::lock_guard lock(mu_);
  if (auto [it, fresh] = entries_.try_emplace(digest.hex(), Entry{size, options_.now()}); fresh) {
    bytes_ += size;
  }
  EvictLocked(digest.hex());
  return absl::OkStatus();
}

void BlobCache::NoteImageServed(const std::vector<BlobDigest>& digests) {
  const auto until = options_.now() + options_.pin_window;
  std::lock_guard lock(mu_);
  for (const BlobDigest& digest : digests) pinned_until_[digest.hex()] = until;
}

void BlobCache::EvictLocked(const std::string& keep) {
  const auto now = options_.now();
  std::erase_if(pinned_until_, [&](const auto& pin) { return pin.second <= now; });
  while (bytes_ > options_.max_bytes) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == keep || pinned_until_.count(it->first) > 0) continue;
      if (victim == entries_.end() || it->second.last_served < victim->second.last_served) victim = it;
    }
    if (victim == entries_.end()) {
      LogEvent("site_cache.over_bound", {{"bytes", std::to_string(bytes_)},
                                         {"bound", std::to_string(options_.max_bytes)},
                                         {"reason", "every cached blob is named by an image served "
                                                    "within the boot window"}});
      return;
    }
    ::unlink(PathOf(victim->first).c_str());
    LogEvent("site_cache.evicted",
             {{"digest", "sha256:" + victim->first}, {"bytes", std::to_string(victim->second.size)}});
    bytes_ -= victim->second.size;
    entries_.erase(victim);
    ++counters_.evictions;
  }
}

uint64_t BlobCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t BlobCache::count() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace midwife::bootserver
