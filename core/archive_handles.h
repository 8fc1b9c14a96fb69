#ifndef MIDWIFE_CORE_ARCHIVE_HANDLES_H_
#define MIDWIFE_CORE_ARCHIVE_HANDLES_H_

// RAII for libarchive handles, shared by every reader and writer of tarballs.

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace midwife {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReadHandle = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWriteHandle = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveEntryHandle = std::unique_ptr<archive_entry, ArchiveEntryFree>;

}  // namespace midwife

#endif  // MIDWIFE_CORE_ARCHIVE_HANDLES_H_
