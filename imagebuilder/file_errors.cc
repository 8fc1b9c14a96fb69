#include "imagebuilder/file_errors.h"

#include <cerrno>
#include <cstring>

namespace midwife::imagebuilder {

absl::Status FileError(std::string_view what, const std::string& path, int err) {
  const std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message + "; free space there and retry");
    case EFBIG:
      return absl::ResourceExhaustedError(message + "; raise the file size limit (ulimit -f)");
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace midwife::imagebuilder
