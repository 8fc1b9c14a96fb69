#include "core/file_io.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/unique_fd.h"

namespace midwife {
namespace {

absl::Status ErrnoError(std::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

using Fd = UniqueFd;

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", st.st_size, " bytes, more than the limit of ", max_bytes));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents,
                                 unsigned mode) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", RandomHex(4));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return ErrnoError("cannot create", tmp, errno);
  auto fail = [&](std::string_view what, int err) {
    ::unlink(tmp.c_str());
    return ErrnoError(what, path, err);
  };
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write", errno);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
  if (::close(fd.release()) != 0) return fail("cannot close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into", errno);
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSecretBytes(const std::string& path, size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat secret file", path, errno);
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "secret file %s may be read by group or others (mode %03o); chmod 600 it", path,
        st.st_mode & 0777));
  }
  return ReadFile(path, max_bytes);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  auto contents = ReadSecretBytes(path, 64 * 1024);
  if (!contents.ok()) return contents.status();
  std::string s = *std::move(contents);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("secret file ", path, " is empty"));
  return s;
}

absl::StatusOr<std::string> ReadOrCreateSecretFile(const std::string& path, size_t bytes) {
  if (::access(path.c_str(), F_OK) == 0) return ReadSecretFile(path);
  std::string secret = RandomHex(bytes);
  absl::Status st = WriteFileAtomically(path, secret + "\n", 0600);
  if (!st.ok()) return st;
  return secret;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::abort();  // No entropy means no safe secrets; nothing sane to continue with.
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

}  // namespace midwife
