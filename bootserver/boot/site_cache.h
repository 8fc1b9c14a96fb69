#ifndef MIDWIFE_BOOTSERVER_BOOT_SITE_CACHE_H_
#define MIDWIFE_BOOTSERVER_BOOT_SITE_CACHE_H_

// What makes a boot server a site boot server (docs/SITE_CACHE.md): images
// and blobs its own repository lacks, pulled through from an upstream boot
// server by digest into a bounded BlobCache. The boot service asks here only
// after its repository said NOT_FOUND, so locally imported images always win
// and are never evicted.
//
// An image by name@version: the manifest comes from the upstream by name and
// is checked against the digest the upstream names it by; its config comes by
// digest; both are kept in the cache. Modules come when a host asks for them.
//
// Thread-safety: all methods may be called from any thread.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "bootserver/boot/blob_cache.h"
#include "bootserver/boot/single_flight.h"
#include "bootserver/boot/upstream_client.h"
#include "imagebuilder/image_repository.h"

namespace midwife::bootserver {

class SiteCache {
 public:
  SiteCache(std::unique_ptr<UpstreamClient> upstream, std::unique_ptr<BlobCache> blobs)
      : upstream_(std::move(upstream)), blobs_(std::move(blobs)) {}

  // Image `ref` from the upstream (one request per ref at a time).
  absl::StatusOr<imagebuilder::ResolvedImage> ResolveImage(const imagebuilder::ImageRef& ref);
  // The image whose manifest is `manifest_digest`, pulled through by digest.
  absl::StatusOr<imagebuilder::ImageManifest> ReadImage(const imagebuilder::BlobDigest& manifest_digest);
  // Keeps the blobs `image` names (manifest, config, kernel, modules, loaders)
  // from eviction for the boot window.
  void NoteImageServed(const imagebuilder::ResolvedImage& image);

  BlobCache& blobs() { return *blobs_; }
  const UpstreamClient& upstream() const { return *upstream_; }
  // Prometheus lines: midwife_upstream_fetches_total and midwife_site_cache_*.
  std::string RenderMetrics() const;

 private:
  // The cached blob's bytes, up to the manifest bound.
  absl::StatusOr<std::string> ReadSmall(const imagebuilder::BlobDigest& digest);

  std::unique_ptr<UpstreamClient> upstream_;
  std::unique_ptr<BlobCache> blobs_;
  SingleFlight ref_flights_;
  std::mutex mu_;
  std::map<std::string, imagebuilder::BlobDigest> manifest_by_ref_;     // by name@version
  std::map<std::string, imagebuilder::BlobDigest> config_by_manifest_;  // by manifest hex
};

// Wires an UpstreamClient to a BlobCache in `cache_dir`: the fetcher the
// cache calls is a GET of /blobs/sha256/<hex> at the upstream.
absl::StatusOr<std::unique_ptr<SiteCache>> OpenSiteCache(UpstreamOptions upstream,
                                                         BlobCacheOptions cache);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_SITE_CACHE_H_
