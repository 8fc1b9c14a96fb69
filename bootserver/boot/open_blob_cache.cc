#include "bootserver/boot/open_blob_cache.h"

#include <sys/stat.h>

#include <utility>

namespace midwife::bootserver {

std::shared_ptr<const OpenBlobCache::Blob> OpenBlobCache::Find(
    const imagebuilder::BlobDigest& digest) {
  std::shared_ptr<const Blob> blob;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(digest.hex());
    if (it == entries_.end()) return nullptr;
    blob = it->second.blob;
    recency_.splice(recency_.begin(), recency_, it->second.recency);
  }
  struct stat st {};
  if (::stat(blob->path.c_str(), &st) == 0 && FileIdentity::Of(st) == blob->identity) return blob;
  Erase(digest.hex(), blob);
  return nullptr;
}

void OpenBlobCache::Insert(const imagebuilder::BlobDigest& digest, Blob blob) {
  auto shared = std::make_shared<const Blob>(std::move(blob));
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(digest.hex()); it != entries_.end()) {
    it->second.blob = std::move(shared);
    recency_.splice(recency_.begin(), recency_, it->second.recency);
    return;
  }
  recency_.push_front(digest.hex());
  entries_.emplace(digest.hex(), Entry{std::move(shared), recency_.begin()});
  while (entries_.size() > capacity_) {
    entries_.erase(recency_.back());
    recency_.pop_back();
  }
}

size_t OpenBlobCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void OpenBlobCache::Erase(const std::string& hex, const std::shared_ptr<const Blob>& blob) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(hex);
  // Another request may have put a fresh file there meanwhile: keep that.
  if (it == entries_.end() || it->second.blob != blob) return;
  recency_.erase(it->second.recency);
  entries_.erase(it);
}

}  // namespace midwife::bootserver
