#ifndef MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_
#define MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_

// Builds tarballs in memory for tests, well-formed and hostile alike, with
// libarchive's own writer (pax format, gzip'd unless asked otherwise). Names
// and link targets are written as given: "/etc/x", "../x" and device nodes
// come out exactly as a hostile client would send them.
//
// Output is deterministic: mtime 0, owner root:root, no gzip timestamp, so
// equal inputs give equal bytes (and digests). libarchive failures are
// reported as GoogleTest failures.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

struct archive;
struct archive_entry;

namespace midwife::testing {

// Entries in archive order. Not thread-safe; one builder per archive.
class TarBuilder {
 public:
  enum class Compression {
    kGzip,        // zlib's default level, about what ESXi's own tar writes
    kGzipFast,    // level 1: for building large archives (gzip bombs) quickly
    kGzipStored,  // level 0: contents appear verbatim in the archive's bytes
    kNone,        // a bare tar
  };

  explicit TarBuilder(Compression compression = Compression::kGzip);
  ~TarBuilder();
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& File(const std::string& name, std::string_view contents, int mode = 0644);
  // `size` zero bytes, written in 1 MiB chunks so that a gzip bomb of any
  // size costs little memory to build.
  TarBuilder& ZeroFile(const std::string& name, uint64_t size);
  TarBuilder& Dir(const std::string& name, int mode = 0755);
  TarBuilder& Symlink(const std::string& name, const std::string& target);
  TarBuilder& Hardlink(const std::string& name, const std::string& target);
  TarBuilder& CharDevice(const std::string& name, int major = 1, int minor = 3);
  TarBuilder& BlockDevice(const std::string& name, int major = 8, int minor = 1);
  TarBuilder& Fifo(const std::string& name);

  // Ends the archive and returns its bytes. Call once; the builder is spent.
  std::string Finish();

 private:
  archive_entry* NewEntry(const std::string& name, unsigned type, int mode);
  void WriteHeader(archive_entry* entry, const std::string& name);

  archive* archive_ = nullptr;
  std::string out_;
};

// One entry, for building from tables.
struct TarMember {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kCharDevice, kBlockDevice, kFifo };
  std::string name;
  std::string data;
  Type type = Type::kFile;
  std::string link_target;  // kSymlink, kHardlink
};

// gzip'd tar of `members`, in order.
std::string MakeTgzOf(const std::vector<TarMember>& members);
// An uncompressed tar (for "not gzip" cases).
std::string MakeTarOf(const std::vector<TarMember>& members);
// gzip'd tar of regular files, name -> contents, in name order.
std::string MakeTgz(const std::map<std::string, std::string>& files);
// `data` as a single gzip member (level 1, for speed), no tar inside.
std::string Gzip(std::string_view data);

// ESXi layouts: local.tgz of `etc_files` (etc/... paths); state.tgz holding
// it; a configBundle-*.tgz holding Manifest.txt (with RELEASELEVEL=
// `release_level`, or no such line when empty) and state.tgz.
std::string MakeLocalTgz(const std::map<std::string, std::string>& etc_files);
std::string MakeEsxiStateTgz(const std::map<std::string, std::string>& etc_files);
std::string MakeConfigBundle(const std::string& release_level,
                             const std::map<std::string, std::string>& etc_files);
// ESXi 7+ state.tgz: local.tgz.ve (random bytes, as encrypted data looks)
// and encryption.info.
std::string MakeEncryptedEsxiStateTgz();

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_
