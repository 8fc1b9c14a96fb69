#ifndef MIDWIFE_BOOTSERVER_BOOT_FILE_IDENTITY_H_
#define MIDWIFE_BOOTSERVER_BOOT_FILE_IDENTITY_H_

#include <sys/stat.h>

#include <cstdint>

namespace midwife::bootserver {

// What tells one version of a file from another without reading it: any
// write to it (mtime, ctime), truncation (size), or another file renamed over
// its path (device, inode) changes it.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  static FileIdentity Of(const struct stat& st) {
    return {st.st_dev, st.st_ino, st.st_size, Nanoseconds(st.st_mtim), Nanoseconds(st.st_ctim)};
  }
  bool operator==(const FileIdentity&) const = default;

 private:
  static int64_t Nanoseconds(const timespec& t) {
    return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
  }
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_FILE_IDENTITY_H_
