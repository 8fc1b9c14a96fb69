#ifndef MIDWIFE_IMAGEBUILDER_OCI_FORMAT_H_
#define MIDWIFE_IMAGEBUILDER_OCI_FORMAT_H_

// The image repository on disk is an OCI image layout (OCI image-spec v1.1,
// image-layout.md), so that any OCI tool can copy it to a registry
// (`oras cp --from-oci-layout repo:esxi:8.0u2 ...`) and back:
//
//   <repo>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//   <repo>/index.json            image index (image-index.md): one descriptor per
//                                image, annotated org.opencontainers.image.ref.name
//                                = "name:version". The only table of names: there is
//                                no refs/ folder, and the file is replaced atomically.
//   <repo>/blobs/sha256/<hex>    every blob: module files, image configs, manifests
//   <repo>/blobs/sha256/.tmp-*   a blob being written: never read, removed by gc
//   <repo>/.lock                 flock()ed by writers (see image_repository.h)
//
// An image is an OCI image manifest (manifest.md), media type kManifestMediaType:
//   config   kConfigMediaType: name, version, kind, creation time, parent and
//            the boot.cfg settings (see image_manifest.h for its fields)
//   layers   [0] kKernelMediaType, the kernel; [1..] kModuleMediaType, the
//            modules in boot order. Each layer carries the annotation
//            org.opencontainers.image.title = the module's file name ("b.b00")
//            and, when it has any, kModuleOptionsAnnotation = its boot options.
//            After the modules, layers of kLoaderMediaType: the image's boot
//            loaders (mboot.efi, ...), titled like modules, never options.
//
// These functions are the one codec of these JSON documents. Pure, no I/O,
// thread-safe. Parse errors are INVALID_ARGUMENT saying which field is wrong;
// callers prefix the file or digest they read.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"

namespace midwife::imagebuilder {

inline constexpr std::string_view kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kConfigMediaType = "application/vnd.midwife.image.config.v1+json";
inline constexpr std::string_view kKernelMediaType = "application/vnd.midwife.boot.kernel.v1";
inline constexpr std::string_view kModuleMediaType = "application/vnd.midwife.boot.module.v1";
inline constexpr std::string_view kLoaderMediaType = "application/vnd.midwife.boot.loader.v1";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kTitleAnnotation = "org.opencontainers.image.title";
inline constexpr std::string_view kCreatedAnnotation = "org.opencontainers.image.created";
inline constexpr std::string_view kModuleOptionsAnnotation = "dev.midwife.module.options";

inline constexpr std::string_view kOciLayoutFile = "oci-layout";
inline constexpr std::string_view kIndexFile = "index.json";
inline constexpr std::string_view kBlobFolder = "blobs/sha256";

// Bounds on what we read back; real manifests of 150 modules are ~40 KiB.
inline constexpr size_t kMaxManifestBytes = 4 << 20;
inline constexpr size_t kMaxIndexBytes = 64 << 20;
inline constexpr size_t kMaxLayers = 4096;

struct OciDescriptor {
  std::string media_type;
  BlobDigest digest;
  uint64_t size = 0;
  std::map<std::string, std::string> annotations;

  friend bool operator==(const OciDescriptor&, const OciDescriptor&) = default;
};

struct OciManifest {
  OciDescriptor config;
  std::vector<OciDescriptor> layers;
  std::map<std::string, std::string> annotations;

  friend bool operator==(const OciManifest&, const OciManifest&) = default;
};

struct OciIndex {
  std::vector<OciDescriptor> manifests;

  friend bool operator==(const OciIndex&, const OciIndex&) = default;
};

// Compact JSON with sorted keys: the same manifest always renders to the same
// bytes, hence the same digest.
std::string RenderOciManifest(const OciManifest& manifest);
absl::StatusOr<OciManifest> ParseOciManifest(std::string_view json);

// Indented for people reading index.json.
std::string RenderOciIndex(const OciIndex& index);
absl::StatusOr<OciIndex> ParseOciIndex(std::string_view json);

std::string RenderOciLayout();
// OK when `json` is an oci-layout file of version 1.0.0.
absl::Status CheckOciLayout(std::string_view json);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_OCI_FORMAT_H_
