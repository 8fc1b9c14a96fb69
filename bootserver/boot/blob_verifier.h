#ifndef MIDWIFE_BOOTSERVER_BOOT_BLOB_VERIFIER_H_
#define MIDWIFE_BOOTSERVER_BOOT_BLOB_VERIFIER_H_

// Checks that a blob file about to be served holds the bytes its name (their
// SHA-256) promises, so a module altered on disk is refused, not handed to a
// host. Blobs go out zero-copy (sendfile, mmap), so they are not hashed per
// request: each file is hashed the first time it is served, and again only
// when its identity changes (device, inode, size, mtime, ctime: anything that
// writes to it, renames another file over it or truncates it). Bit rot under
// an unchanged inode is `imagebuilder verify`'s to find, not this class's.
//
// Concurrent first serves of one blob (a storm's first hosts) hash it once:
// the others wait for that hash (single flight).
//
// Thread-safety: all methods may be called from any thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "bootserver/boot/file_identity.h"
#include "bootserver/boot/single_flight.h"
#include "imagebuilder/blob_digest.h"

namespace midwife::bootserver {

class BlobVerifier {
 public:
  // OK when the open file `fd` (read from `path`, named in errors) holds the
  // bytes of `digest`; DATA_LOSS naming the path and both digests when not.
  // The file's read offset is left alone (pread).
  absl::Status Check(const imagebuilder::BlobDigest& digest, int fd, const std::string& path);
  // The same for a file whose identity the caller has just read (fstat).
  absl::Status Check(const imagebuilder::BlobDigest& digest, int fd, const std::string& path,
                     const FileIdentity& identity);

  // True when `digest` was verified and the file at `path` is still the one
  // verified: serving it costs no hashing (used to keep first serves, which
  // hash, off the I/O threads).
  bool IsVerified(const imagebuilder::BlobDigest& digest, const std::string& path) const;

  uint64_t hashed_bytes() const { return hashed_bytes_; }
  uint64_t corrupt() const { return corrupt_; }

 private:
  absl::Status Hash(const imagebuilder::BlobDigest& digest, int fd, const std::string& path,
                    const FileIdentity& identity);

  mutable std::mutex mu_;
  std::map<std::string, FileIdentity> verified_;  // by digest hex
  SingleFlight flights_;
  std::atomic<uint64_t> hashed_bytes_{0};
  std::atomic<uint64_t> corrupt_{0};
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_BLOB_VERIFIER_H_
