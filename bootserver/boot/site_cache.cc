#include "bootserver/boot/site_cache.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "imagebuilder/blob_store.h"
#include "imagebuilder/image_manifest.h"
#include "imagebuilder/oci_format.h"

namespace midwife::bootserver {

using imagebuilder::BlobDigest;

absl::StatusOr<std::string> SiteCache::ReadSmall(const BlobDigest& digest) {
  ASSIGN_OR_RETURN(CachedBlob blob, blobs_->Get(digest));
  return ReadFile(blob.path, imagebuilder::kMaxManifestBytes);
}

absl::StatusOr<imagebuilder::ImageManifest> SiteCache::ReadImage(const BlobDigest& manifest_digest) {
  ASSIGN_OR_RETURN(const std::string manifest_text, ReadSmall(manifest_digest));
  auto manifest = imagebuilder::ParseOciManifest(manifest_text);
  if (!manifest.ok()) {
    return absl::DataLossError(absl::StrCat("upstream manifest ", manifest_digest.ToString(), ": ",
                                            manifest.status().message()));
  }
  {
    std::lock_guard lock(mu_);
    config_by_manifest_[manifest_digest.hex()] = manifest->config.digest;
  }
  ASSIGN_OR_RETURN(const std::string config, ReadSmall(manifest->config.digest));
  auto image = imagebuilder::DecodeImage(*manifest, config);
  if (!image.ok()) {
    return absl::DataLossError(absl::StrCat("upstream manifest ", manifest_digest.ToString(), ": ",
                                            image.status().message()));
  }
  return image;
}

absl::StatusOr<imagebuilder::ResolvedImage> SiteCache::ResolveImage(const imagebuilder::ImageRef& ref) {
  const std::string key = ref.ToString();
  auto known = [&]() -> std::optional<BlobDigest> {
    std::lock_guard lock(mu_);
    auto it = manifest_by_ref_.find(key);
    if (it == manifest_by_ref_.end()) return std::nullopt;
    return it->second;
  };
  if (!known()) {
    SingleFlight::Outcome outcome = ref_flights_.Do(key, blobs_->options().max_wait, [&]() -> absl::Status {
      if (known()) return absl::OkStatus();
      ASSIGN_OR_RETURN(UpstreamClient::Manifest manifest, upstream_->FetchManifest(ref));
      RETURN_IF_ERROR(blobs_->Insert(manifest.digest, manifest.bytes));
      std::lock_guard lock(mu_);
      manifest_by_ref_[key] = manifest.digest;
      return absl::OkStatus();
    });
    if (!outcome.status.ok()) return outcome.status;
  }
  const BlobDigest digest = *known();
  ASSIGN_OR_RETURN(imagebuilder::ImageManifest image, ReadImage(digest));
  if (image.ref != ref) {
    return absl::DataLossError(absl::StrCat("upstream named manifest ", digest.ToString(), " for ", key,
                                            " but it describes ", image.ref.ToString()));
  }
  return imagebuilder::ResolvedImage{std::move(image), digest};
}

void SiteCache::NoteImageServed(const imagebuilder::ResolvedImage& image) {
  std::vector<BlobDigest> named = {image.digest, image.image.kernel.digest};
  for (const auto& m : image.image.modules) named.push_back(m.digest);
  for (const auto& m : image.image.loaders) named.push_back(m.digest);
  {
    std::lock_guard lock(mu_);
    if (auto it = config_by_manifest_.find(image.digest.hex()); it != config_by_manifest_.end()) {
      named.push_back(it->second);
    }
  }
  blobs_->NoteImageServed(named);
}

std::string SiteCache::RenderMetrics() const {
  const BlobCacheCounters& c = blobs_->counters();
  return absl::StrCat(
      "# HELP midwife_upstream_fetches_total Blobs fetched from the upstream boot server.\n",
      "# TYPE midwife_upstream_fetches_total counter\n",
      "midwife_upstream_fetches_total{result=\"ok\"} ", c.fetches_ok.load(), "\n",
      "midwife_upstream_fetches_total{result=\"failed\"} ", c.fetches_failed.load(), "\n",
      "# TYPE midwife_upstream_bytes_total counter\nmidwife_upstream_bytes_total ", c.fetched_bytes.load(), "\n",
      "# TYPE midwife_site_cache_hits_total counter\nmidwife_site_cache_hits_total ", c.hits.load(), "\n",
      "# TYPE midwife_site_cache_waits_total counter\nmidwife_site_cache_waits_total ", c.waits.load(), "\n",
      "# TYPE midwife_site_cache_evictions_total counter\nmidwife_site_cache_evictions_total ",
      c.evictions.load(), "\n",
      "# TYPE midwife_site_cache_bytes gauge\nmidwife_site_cache_bytes ", blobs_->bytes(), "\n",
      "# TYPE midwife_site_cache_blobs gauge\nmidwife_site_cache_blobs ", blobs_->count(), "\n");
}

absl::StatusOr<std::unique_ptr<SiteCache>> OpenSiteCache(UpstreamOptions upstream_options,
                                                         BlobCacheOptions cache_options) {
  ASSIGN_OR_RETURN(std::unique_ptr<UpstreamClient> upstream, UpstreamClient::Create(std::move(upstream_options)));
  const UpstreamClient* client = upstream.get();
  BlobFetcher fetch = [client](const BlobDigest& digest, int fd) {
    return client->FetchBlob(digest, fd, imagebuilder::kMaxBlobBytes).status();
  };
  ASSIGN_OR_RETURN(std::unique_ptr<BlobCache> blobs, BlobCache::Open(std::move(cache_options), fetch));
  return std::make_unique<SiteCache>(std::move(upstream), std::move(blobs));
}

}  // namespace midwife::bootserver
