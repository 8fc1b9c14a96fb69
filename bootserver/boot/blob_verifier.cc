#include "bootserver/boot/blob_verifier.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/sha256.h"

namespace midwife::bootserver {
namespace {

// A first serve waits at most this long for another request's hash of the
// same blob: long enough for a multi-GiB module on a slow disk.
constexpr std::chrono::minutes kMaxHashWait{5};
constexpr size_t kReadBytes = 1 << 20;

}  // namespace

bool BlobVerifier::IsVerified(const imagebuilder::BlobDigest& digest,
                              const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  const FileIdentity identity = FileIdentity::Of(st);
  std::lock_guard lock(mu_);
  auto it = verified_.find(digest.hex());
  return it != verified_.end() && it->second == identity;
}

absl::Status BlobVerifier::Check(const imagebuilder::BlobDigest& digest, int fd,
                                 const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  return Check(digest, fd, path, FileIdentity::Of(st));
}

absl::Status BlobVerifier::Check(const imagebuilder::BlobDigest& digest, int fd,
                                 const std::string& path, const FileIdentity& identity) {
  auto known = [&] {
    std::lock_guard lock(mu_);
    auto it = verified_.find(digest.hex());
    return it != verified_.end() && it->second == identity;
  };
  if (known()) return absl::OkStatus();
  // The flight's key names the file identity too: a waiter for another
  // version of the file must not take this one's verdict.
  const std::string key = absl::StrCat(digest.hex(), "/", identity.inode, "/", identity.ctime_ns);
  return flights_
      .Do(key, kMaxHashWait,
          [&]() -> absl::Status {
            return known() ? absl::OkStatus() : Hash(digest, fd, path, identity);
          })
      .status;
}

absl::Status BlobVerifier::Hash(const imagebuilder::BlobDigest& digest, int fd,
                                const std::string& path, const FileIdentity& identity) {
  Sha256 hash;
  std::vector<char> buffer(kReadBytes);
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return absl::InternalError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
    offset += n;
  }
  hashed_bytes_ += static_cast<uint64_t>(offset);
  const imagebuilder::BlobDigest actual = imagebuilder::BlobDigest::FromSha256(hash.Finish());
  if (actual != digest) {
    ++corrupt_;
    LogEvent("blob.corrupt",
             {{"path", path}, {"expected", digest.ToString()}, {"actual", actual.ToString()}});
    return absl::DataLossError(absl::StrCat("blob ", path, " should be ", digest.ToString(),
                                            " but its bytes hash to ", actual.ToString(),
                                            ": corrupt on disk, not served (imagebuilder verify)"));
  }
  std::lock_guard lock(mu_);
  verified_[digest.hex()] = identity;
  return absl::OkStatus();
}

}  // namespace midwife::bootserver
