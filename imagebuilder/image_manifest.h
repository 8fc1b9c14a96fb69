#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_MANIFEST_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_MANIFEST_H_

// What an image is: the model the boot server renders a host's boot.cfg (or
// iPXE script) from, and its encoding as an OCI image manifest plus config
// blob (layout in oci_format.h). Pure, no I/O; value types.
//
// Config blob (kConfigMediaType), compact JSON, sorted keys:
//   {"name":"esxi","version":"8.0u2","kind":"esxi","created":"2024-01-31T12:00:00Z",
//    "parent":{"ref":"esxi@8.0u2","digest":"sha256:..."},          (compose only)
//    "boot":{"title":"...","timeout":5,"kernelopt":"...","build":"...",
//            "loader_options":[["nobootif","1"]],"unknown_keys":[["foo","bar"]]}}
// Modules are the manifest's layers (kernel first): name and options travel as
// layer annotations, digest and size as the descriptor's own fields. Loaders
// follow the modules as layers of kLoaderMediaType, so that gc, verify and
// copies see their blobs like any module's; a manifest without them (written
// before loaders existed) decodes to an image with none.
//
// An image is immutable once stored: its content is everything but `created`.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/boot_cfg.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/oci_format.h"

namespace midwife::imagebuilder {

// ESXi images boot through mboot and boot.cfg; Linux images (the stand-in
// hosts of end-to-end tests) are a kernel, initrds and a command line.
enum class ImageKind { kEsxi, kLinux };

std::string_view ImageKindName(ImageKind kind);  // "esxi", "linux"
absl::StatusOr<ImageKind> ParseImageKind(std::string_view name);

// Most modules an image may hold; ESXi 8 has about 130.
inline constexpr size_t kMaxModules = 1024;

struct ImageModule {
  // The file name the boot loader asks for, as boot.cfg spells it, without
  // folders: "b.b00". Unique in an image, ignoring case.
  std::string name;
  BlobDigest digest;
  uint64_t size = 0;
  // Options boot.cfg passes to this module ("ks=usb"); for the kernel, the
  // text after its path on the kernel= line. White space folded.
  std::string options;

  friend bool operator==(const ImageModule&, const ImageModule&) = default;
};

struct ParentImage {
  ImageRef ref;
  BlobDigest digest;  // of the parent's manifest, as it was when composed

  friend bool operator==(const ParentImage&, const ParentImage&) = default;
};

struct ImageManifest {
  ImageRef ref;
  ImageKind kind = ImageKind::kEsxi;
  std::string created;  // RFC 3339, UTC
  std::optional<ParentImage> parent;

  // The boot.cfg settings that belong to the image (see boot_cfg.h). Bank
  // state, prefix and updated are not among them: they are per host and bank,
  // and the boot server writes them.
  std::string title;
  std::optional<int> timeout;
  std::string kernelopt;
  std::string build;
  ImageModule kernel;
  std::vector<ImageModule> modules;  // boot order
  // Boot loader files of the image that boot.cfg does not list; for ESXi
  // mboot.c32 (BIOS) and mboot.efi / bootx64.efi (UEFI), which the iPXE script
  // chains with `-c <boot.cfg URL>`. No options; never in ToBootCfg.
  std::vector<ImageModule> loaders;
  std::vector<std::pair<std::string, std::string>> loader_options;
  std::vector<std::pair<std::string, std::string>> unknown_keys;

  friend bool operator==(const ImageManifest&, const ImageManifest&) = default;
};

// Where creation times come from; a seam for tests.
using Clock = std::function<std::chrono::system_clock::time_point()>;
// RFC 3339 in UTC to the second: "2024-01-31T12:00:00Z".
std::string FormatCreated(std::chrono::system_clock::time_point time);

// True when `a` and `b` differ at most in `created`.
bool SameContent(const ImageManifest& a, const ImageManifest& b);

// Kernel, modules and loaders.
uint64_t TotalBytes(const ImageManifest& image);

// The kernel, module or loader named `name` (SameModuleName: any case, any
// folder), or nullptr. Loaders are included because the boot server serves
// them by name beside the modules.
const ImageModule* FindModule(const ImageManifest& image, std::string_view name);

// The loader named `name` (SameModuleName), or nullptr.
const ImageModule* FindLoader(const ImageManifest& image, std::string_view name);

// The image as a boot.cfg with module names relative and no prefix: the boot
// server sets prefix= to where it serves blobs and appends the host's state.
BootCfg ToBootCfg(const ImageManifest& image);

// A name the boot.cfg module list can carry and a file system can hold: not
// empty, at most 255 bytes, no white space, '/', '\', "---" or NUL, not "." or
// "..". INVALID_ARGUMENT naming it otherwise.
absl::Status ValidateModuleName(std::string_view name);

// Checks what Encode needs and Decode guarantees: valid ref, kernel set, valid
// and unique module names (loaders included: they are served by name from the
// same folder), options without "---", at most kMaxModules, loaders without
// options.
absl::Status ValidateImage(const ImageManifest& image);

struct EncodedImage {
  std::string config;    // the config blob
  std::string manifest;  // the manifest blob; refers to the config by digest
};
// REQUIRES: ValidateImage(image).ok().
EncodedImage EncodeImage(const ImageManifest& image);

// Rebuilds the model from a manifest and the config blob it names. Checks
// the media types and ValidateImage.
absl::StatusOr<ImageManifest> DecodeImage(const OciManifest& manifest, std::string_view config);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_MANIFEST_H_
