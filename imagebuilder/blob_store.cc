#include "imagebuilder/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/unique_fd.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "imagebuilder/file_errors.h"

namespace midwife::imagebuilder {
namespace {

// Read-only: a blob's bytes are its name, so nothing may write to it.
constexpr mode_t kBlobMode = 0444;

using Fd = UniqueFd;

// Unlinks the temporary unless it was renamed into place.
class Temporary {
 public:
  explicit Temporary(std::string path) : path_(std::move(path)) {}
  ~Temporary() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Temporary(const Temporary&) = delete;
  Temporary& operator=(const Temporary&) = delete;
  const std::string& path() const { return path_; }
  void Keep() { path_.clear(); }

 private:
  std::string path_;
};

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError("cannot write", path, errno);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status Prefixed(std::string_view what, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(std::string(what), ": ", std::string(status.message())));
}

}  // namespace

absl::StatusOr<BlobStore::PutResult> BlobStore::Put(ByteSource& source, std::string_view what,
                                                    uint64_t max_bytes) {
  Temporary temporary(
      absl::StrCat(dir_, "/", std::string(kTemporaryPrefix), ::getpid(), "-", RandomHex(8)));
  Fd fd(::open(temporary.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kBlobMode));
  if (fd.get() < 0) {
    const int err = errno;
    temporary.Keep();  // never created: nothing to unlink, and not ours if it existed
    return Prefixed(what, FileError("cannot create", temporary.path(), err));
  }
  const auto buffer = std::make_unique<char[]>(kCopyBufferBytes);
  Sha256 hash;
  uint64_t size = 0;
  while (true) {
    absl::StatusOr<size_t> n = source.Read(buffer.get(), kCopyBufferBytes);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    size += *n;
    if (size > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(what), " is larger than ", max_bytes, " bytes, the largest blob accepted"));
    }
    hash.Update(buffer.get(), *n);
    absl::Status written = WriteAll(fd.get(), buffer.get(), *n, temporary.path());
    if (!written.ok()) return Prefixed(what, written);
  }
  PutResult result{{BlobDigest::FromSha256(hash.Finish()), size}, false};
  const std::string final_path = PathOf(result.blob.digest);
  if (::access(final_path.c_str(), F_OK) == 0) return result;  // dedup: the temporary goes
  if (::fsync(fd.get()) != 0)
    return Prefixed(what, FileError("cannot fsync", temporary.path(), errno));
  if (::close(fd.release()) != 0) {
    return Prefixed(what, FileError("cannot close", temporary.path(), errno));
  }
  if (::rename(temporary.path().c_str(), final_path.c_str()) != 0) {
    return Prefixed(what, FileError("cannot rename into", final_path, errno));
  }
  temporary.Keep();
  // The rename is durable only once the folder is. (Should this fail, the
  // blob is whole under its name all the same; unreferenced, gc takes it.)
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return Prefixed(what, FileError("cannot fsync", dir_, errno));
  }
  result.created = true;
  return result;
}

absl::StatusOr<BlobStore::PutResult> BlobStore::PutBytes(std::string_view bytes,
                                                         std::string_view what) {
  StringByteSource source(bytes);
  return Put(source, what);
}

std::string BlobStore::PathOf(const BlobDigest& digest) const {
  return absl::StrCat(dir_, "/", digest.hex());
}

bool BlobStore::Contains(const BlobDigest& digest) const {
  return !digest.empty() && ::access(PathOf(digest).c_str(), F_OK) == 0;
}

absl::StatusOr<std::string> BlobStore::ReadVerified(const BlobDigest& digest,
                                                    size_t max_bytes) const {
  const std::string path = PathOf(digest);
  absl::StatusOr<std::string> bytes = ReadFile(path, max_bytes);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return absl::NotFoundError(
          absl::StrCat("blob ", digest.ToString(), " is missing from ", dir_));
    }
    return bytes.status();
  }
  const BlobDigest actual = BlobDigest::Of(*bytes);
  if (actual != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToString(),
                                            " is corrupt: its bytes hash to ", actual.ToString()));
  }
  return bytes;
}

absl::Status BlobStore::Verify(const BlobDigest& digest,
                               const std::function<void(uint64_t)>& on_bytes) const {
  absl::StatusOr<std::unique_ptr<FileByteSource>> file = FileByteSource::Open(PathOf(digest));
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(
          absl::StrCat("blob ", digest.ToString(), " is missing from ", dir_));
    }
    return file.status();
  }
  const auto buffer = std::make_unique<char[]>(kCopyBufferBytes);
  Sha256 hash;
  uint64_t total = 0;
  while (true) {
    ASSIGN_OR_RETURN(const size_t n, (*file)->Read(buffer.get(), kCopyBufferBytes));
    if (n == 0) break;
    hash.Update(buffer.get(), n);
    total += n;
    if (on_bytes) on_bytes(total);
  }
  const BlobDigest actual = BlobDigest::FromSha256(hash.Finish());
  if (actual != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToString(),
                                            " is corrupt: its bytes hash to ", actual.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredBlob>> BlobStore::List() const {
  std::vector<StoredBlob> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    absl::StatusOr<BlobDigest> digest = BlobDigest::FromHex(entry.path().filename().string());
    if (!digest.ok() || digest->hex() != entry.path().filename().string()) continue;
    std::error_code size_error;
    const uintmax_t size = entry.file_size(size_error);
    out.push_back({*digest, size_error ? 0 : static_cast<uint64_t>(size)});
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir_, ": ", ec.message()));
  std::sort(out.begin(), out.end(),
            [](const StoredBlob& a, const StoredBlob& b) { return a.digest < b.digest; });
  return out;
}

absl::StatusOr<std::vector<std::string>> BlobStore::ListTemporaries() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(kTemporaryPrefix)) out.push_back(std::move(name));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir_, ": ", ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status BlobStore::Remove(const BlobDigest& digest) {
  const std::string path = PathOf(digest);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return FileError("cannot remove", path, errno);
  return absl::OkStatus();
}

absl::Status BlobStore::RemoveTemporary(const std::string& name) {
  if (!name.starts_with(kTemporaryPrefix) || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("not a temporary blob name: " + name);
  }
  const std::string path = absl::StrCat(dir_, "/", name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return FileError("cannot remove", path, errno);
  return absl::OkStatus();
}

NewBlobs::~NewBlobs() {
  if (committed_) return;
  for (const StoredBlob& blob : created_) (void)store_.Remove(blob.digest);
}

StoredBlob NewBlobs::Track(const BlobStore::PutResult& result) {
  if (result.created) created_.push_back(result.blob);
  return result.blob;
}

uint64_t NewBlobs::bytes() const {
  uint64_t total = 0;
  for (const StoredBlob& blob : created_) total += blob.size;
  return total;
}

}  // namespace midwife::imagebuilder
