#ifndef MIDWIFE_CORE_ARCHIVE_READER_H_
#define MIDWIFE_CORE_ARCHIVE_READER_H_

// RAII for libarchive handles, shared by every reader and writer of tarballs.

#include <archive.h>

#include <memory>

namespace midwife {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReadHandle = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWriteHandle = std::unique_ptr<archive, ArchiveWriteFree>;

}  // namespace midwife

#endif  // MIDWIFE_CORE_ARCHIVE_READER_H_
