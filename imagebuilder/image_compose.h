#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_COMPOSE_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_COMPOSE_H_

// Composing a new image from a stored one plus edits (compose_plan.h): stores
// the files the edits add or swap in (only bytes the store lacks are written),
// then names the new image, which records its parent. The parent is left as
// it is. All or nothing, like an import (image_import.h); holds the write lock.

#include "absl/status/statusor.h"
#include "imagebuilder/compose_plan.h"
#include "imagebuilder/image_import.h"
#include "imagebuilder/image_repository.h"

namespace midwife::imagebuilder {

struct ComposeOptions {
  ImageRef from;
  ImageRef ref;
  ComposeEdits edits;
  ProgressFn progress;  // bytes stored of bytes to store; may be empty
  Clock clock = [] { return std::chrono::system_clock::now(); };
};

absl::StatusOr<WriteResult> ComposeImage(ImageRepository& repo, const ComposeOptions& options);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_COMPOSE_H_
