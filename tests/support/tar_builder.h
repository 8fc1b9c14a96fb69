#ifndef MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_
#define MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_

// Builds gzip'd tarballs in memory for tests, good and bad alike, with the
// real libarchive writer.

#include <map>
#include <string>
#include <vector>

namespace midwife::testing {

struct TarMember {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kCharDevice, kBlockDevice, kFifo };
  std::string name;
  std::string data;
  Type type = Type::kFile;
  std::string link_target;  // kSymlink, kHardlink
};

// gzip'd pax tar of `members`, in order, mtime 0.
std::string MakeTgzOf(const std::vector<TarMember>& members);
// gzip'd tar of regular files, name -> contents.
std::string MakeTgz(const std::map<std::string, std::string>& files);
// An uncompressed tar (for "not gzip" cases).
std::string MakeTarOf(const std::vector<TarMember>& members);

// ESXi layouts: local.tgz of `etc_files`; state.tgz holding it; a config
// bundle (Manifest.txt with RELEASELEVEL + state.tgz).
std::string MakeLocalTgz(const std::map<std::string, std::string>& etc_files);
std::string MakeEsxiStateTgz(const std::map<std::string, std::string>& etc_files);
std::string MakeConfigBundle(const std::string& release_level,
                             const std::map<std::string, std::string>& etc_files);

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_SUPPORT_TAR_BUILDER_H_
