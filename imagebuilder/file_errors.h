#ifndef MIDWIFE_IMAGEBUILDER_FILE_ERRORS_H_
#define MIDWIFE_IMAGEBUILDER_FILE_ERRORS_H_

// One mapping of errno to absl::Status for the repository's file code, so a
// full disk reads the same from every write path. Internal to imagebuilder.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace midwife::imagebuilder {

// "<what> <path>: <strerror>" with a canonical code: RESOURCE_EXHAUSTED for a
// full disk, a quota or a file size limit (with what to do about it),
// NOT_FOUND, PERMISSION_DENIED, else INTERNAL.
absl::Status FileError(std::string_view what, const std::string& path, int err);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_FILE_ERRORS_H_
