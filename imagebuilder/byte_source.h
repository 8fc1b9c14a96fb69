#ifndef MIDWIFE_IMAGEBUILDER_BYTE_SOURCE_H_
#define MIDWIFE_IMAGEBUILDER_BYTE_SOURCE_H_

// A stream of bytes read once, front to back: a file, a member of an ISO or a
// tarball, or (in tests) a string or a stream that fails. The seam between
// the readers of inputs and the blob store, so that a 400 MiB module flows
// through a fixed buffer and is never held whole in memory. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife::imagebuilder {

// Reports bytes done of bytes expected, for a progress bar. May be empty.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes into `buffer`; returns 0 only at the end.
  // Errors name the source and the reason.
  virtual absl::StatusOr<size_t> Read(char* buffer, size_t size) = 0;
};

// A regular file. Owns its descriptor.
class FileByteSource : public ByteSource {
 public:
  // NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT (not a regular file),
  // naming `path`.
  static absl::StatusOr<std::unique_ptr<FileByteSource>> Open(const std::string& path);
  ~FileByteSource() override;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;

  uint64_t size() const { return size_; }
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  FileByteSource(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  uint64_t size_;
};

// Bytes in memory; `bytes` must outlive the source.
class StringByteSource : public ByteSource {
 public:
  explicit StringByteSource(std::string_view bytes) : rest_(bytes) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  std::string_view rest_;
};

// Passes reads through and calls `on_bytes` with the running total after each.
class CountingByteSource : public ByteSource {
 public:
  CountingByteSource(ByteSource& inner, std::function<void(uint64_t)> on_bytes)
      : inner_(inner), on_bytes_(std::move(on_bytes)) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override;

 private:
  ByteSource& inner_;
  std::function<void(uint64_t)> on_bytes_;
  uint64_t total_ = 0;
};

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_BYTE_SOURCE_H_
