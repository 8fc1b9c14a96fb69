#include "imagebuilder/import_source.h"

#include <sys/stat.h>

#include <cerrno>

#include "imagebuilder/file_errors.h"

namespace midwife::imagebuilder {

absl::StatusOr<std::unique_ptr<ImportSource>> OpenImportSource(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileError("cannot open source", path, errno);
  if (S_ISDIR(st.st_mode)) return MakeFolderSource(path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        path + " is neither a folder nor a file; give an ISO, a tarball or a folder");
  }
  return MakeArchiveSource(path);
}

}  // namespace midwife::imagebuilder
