#include "imagebuilder/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "imagebuilder/file_errors.h"

namespace midwife::imagebuilder {

absl::StatusOr<std::unique_ptr<FileByteSource>> FileByteSource::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return FileError("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(path + " is not a regular file");
  }
  return std::unique_ptr<FileByteSource>(
      new FileByteSource(path, fd, static_cast<uint64_t>(st.st_size)));
}

FileByteSource::~FileByteSource() { ::close(fd_); }

absl::StatusOr<size_t> FileByteSource::Read(char* buffer, size_t size) {
  while (true) {
    const ssize_t n = ::read(fd_, buffer, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return FileError("cannot read", path_, errno);
  }
}

absl::StatusOr<size_t> StringByteSource::Read(char* buffer, size_t size) {
  const size_t n = std::min(size, rest_.size());
  std::memcpy(buffer, rest_.data(), n);
  rest_.remove_prefix(n);
  return n;
}

absl::StatusOr<size_t> CountingByteSource::Read(char* buffer, size_t size) {
  absl::StatusOr<size_t> n = inner_.Read(buffer, size);
  if (n.ok() && *n > 0) {
    total_ += *n;
    if (on_bytes_) on_bytes_(total_);
  }
  return n;
}

}  // namespace midwife::imagebuilder
