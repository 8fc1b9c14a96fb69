#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_IMPORT_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_IMPORT_H_

// Importing an image from an ESXi installer ISO, a folder or a tarball
// (sources in import_source.h, which file is which in import_plan.h).
//
// All or nothing: every module is looked for before a byte is stored (all
// missing ones reported at once); the modules are streamed into the blob store
// (hashed while copied, never whole in memory); only then is the image named
// in index.json. On any failure (a corrupt ISO, a full disk, an image of that
// name with other content) the blobs this import created are removed again,
// and the repository is as it was.
//
// Holds the repository's write lock for the whole import (UNAVAILABLE if
// another writer has it).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/blob_store.h"
#include "imagebuilder/byte_source.h"
#include "imagebuilder/image_manifest.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/image_repository.h"

namespace midwife::imagebuilder {

struct ImportOptions {
  std::string source;  // ISO, tarball or folder
  ImageRef ref;
  ImageKind kind = ImageKind::kEsxi;
  ProgressFn progress;  // bytes stored of bytes to store; may be empty
  Clock clock = [] { return std::chrono::system_clock::now(); };
};

// What an import or a compose did.
struct WriteResult {
  ImageManifest image;
  BlobDigest digest;  // of the manifest
  // False when the repository already held this image with this content:
  // nothing was written.
  bool created = false;
  size_t blobs_written = 0;    // module blobs new to the store
  uint64_t bytes_written = 0;  // their bytes
};

absl::StatusOr<WriteResult> ImportImage(ImageRepository& repo, const ImportOptions& options);

// The last step of an import or a compose: names `image` in the repository,
// keeps the blobs `created` wrote, and reports what was written. For an image
// the repository already held with this content, returns the stored one.
absl::StatusOr<WriteResult> PublishImage(ImageRepository& repo, const WriteLock& lock,
                                         ImageManifest image, NewBlobs& created);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_IMPORT_H_
