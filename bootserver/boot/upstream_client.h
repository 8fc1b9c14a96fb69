#ifndef MIDWIFE_BOOTSERVER_BOOT_UPSTREAM_CLIENT_H_
#define MIDWIFE_BOOTSERVER_BOOT_UPSTREAM_CLIENT_H_

// HTTP GETs from a site boot server's upstream (the primary boot server, or
// any server with its routes): blobs by digest and image manifests by
// name@version. One connection per request, every read and write under a
// deadline. It moves bytes only: checking them against their digest is the
// caller's job (blob_cache.h).
//
// The routes used (boot_service.h):
//   GET /blobs/sha256/<hex>               the blob
//   GET /images/<name>@<version>/manifest the image's OCI manifest; its ETag
//                                         is "sha256:<hex>", the manifest digest
//
// Errors: UNAVAILABLE when the upstream cannot be reached, times out, cuts a
// body short or answers 5xx; NOT_FOUND on 404; DATA_LOSS when a body passes
// its bound or a manifest is not the digest its ETag names.
//
// Thread-safety: const methods may run at once from many threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/image_ref.h"

namespace midwife::bootserver {

struct UpstreamOptions {
  std::string url;  // "http://HOST:PORT" (flag --upstream); no TLS, no path
  std::chrono::seconds connect_timeout{5};
  // A read that makes no progress for this long fails the fetch.
  std::chrono::seconds io_timeout{30};
};

class UpstreamClient {
 public:
  // INVALID_ARGUMENT unless options.url is http://HOST[:PORT].
  static absl::StatusOr<std::unique_ptr<UpstreamClient>> Create(UpstreamOptions options);

  // Writes blob `digest`'s body to `fd`, at most `max_bytes`; returns its size.
  absl::StatusOr<uint64_t> FetchBlob(const imagebuilder::BlobDigest& digest, int fd,
                                     uint64_t max_bytes) const;

  struct Manifest {
    imagebuilder::BlobDigest digest;
    std::string bytes;  // their SHA-256 is `digest`
  };
  // The manifest of image `ref`, checked against the digest the upstream names.
  absl::StatusOr<Manifest> FetchManifest(const imagebuilder::ImageRef& ref) const;

  const std::string& url() const { return options_.url; }

 private:
  UpstreamClient(UpstreamOptions options, std::string host, std::string port)
      : options_(std::move(options)), host_(std::move(host)), port_(std::move(port)) {}
  // GETs `target`, handing body bytes to `sink` as they come; returns the ETag.
  absl::StatusOr<std::string> Get(const std::string& target, uint64_t max_bytes,
                                  const std::function<absl::Status(std::string_view)>& sink) const;

  UpstreamOptions options_;
  std::string host_;
  std::string port_;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_UPSTREAM_CLIENT_H_
