#include "tests/support/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "core/archive_reader.h"

namespace midwife::testing {
namespace {

la_ssize_t Append(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

std::string Write(const std::vector<TarMember>& members, bool gzip) {
  std::string out;
  ArchiveWriteHandle a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (gzip) {
    archive_write_add_filter_gzip(a.get());
    archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
  }
  archive_write_set_bytes_in_last_block(a.get(), 1);
  archive_write_open(a.get(), &out, nullptr, Append, nullptr);
  for (const TarMember& m : members) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), m.name.c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_perm(e.get(), 0644);
    switch (m.type) {
      case TarMember::Type::kFile:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.data.size()));
        break;
      case TarMember::Type::kDir:
        archive_entry_set_filetype(e.get(), AE_IFDIR);
        archive_entry_set_perm(e.get(), 0755);
        break;
      case TarMember::Type::kSymlink:
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_set_symlink(e.get(), m.link_target.c_str());
        break;
      case TarMember::Type::kHardlink:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_hardlink(e.get(), m.link_target.c_str());
        break;
      case TarMember::Type::kCharDevice:
        archive_entry_set_filetype(e.get(), AE_IFCHR);
        archive_entry_set_rdev(e.get(), 0x0103);
        break;
      case TarMember::Type::kBlockDevice:
        archive_entry_set_filetype(e.get(), AE_IFBLK);
        archive_entry_set_rdev(e.get(), 0x0801);
        break;
      case TarMember::Type::kFifo:
        archive_entry_set_filetype(e.get(), AE_IFIFO);
        break;
    }
    archive_write_header(a.get(), e.get());
    if (m.type == TarMember::Type::kFile && !m.data.empty()) {
      archive_write_data(a.get(), m.data.data(), m.data.size());
    }
  }
  archive_write_close(a.get());
  return out;
}

std::vector<TarMember> Files(const std::map<std::string, std::string>& files) {
  std::vector<TarMember> members;
  for (const auto& [name, data] : files) members.push_back({name, data, TarMember::Type::kFile, ""});
  return members;
}

}  // namespace

std::string MakeTgzOf(const std::vector<TarMember>& members) { return Write(members, true); }
std::string MakeTarOf(const std::vector<TarMember>& members) { return Write(members, false); }
std::string MakeTgz(const std::map<std::string, std::string>& files) {
  return MakeTgzOf(Files(files));
}

std::string MakeLocalTgz(const std::map<std::string, std::string>& etc_files) {
  return MakeTgz(etc_files);
}

std::string MakeEsxiStateTgz(const std::map<std::string, std::string>& etc_files) {
  return MakeTgz({{"local.tgz", MakeLocalTgz(etc_files)}});
}

std::string MakeConfigBundle(const std::string& release_level,
                             const std::map<std::string, std::string>& etc_files) {
  return MakeTgz({{"Manifest.txt", "RELEASELEVEL=" + release_level + "\nUUID=4c4c4544\n"},
                  {"state.tgz", MakeEsxiStateTgz(etc_files)}});
}

}  // namespace midwife::testing
