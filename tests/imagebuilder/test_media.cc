#include "tests/imagebuilder/test_media.h"

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "core/sha256.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder::testing {
namespace {

struct WriterFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

void WriteArchive(archive* a, const std::string& path, const Files& files,
                  const Links& links = {}) {
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  // The ISO writer shares an extent only among entries that say they are linked.
  std::map<std::string, unsigned> nlink;
  for (const auto& [name, target] : links) nlink[target] = nlink[name] = 2;
  for (const auto& [name, contents] : files) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                   archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(contents.size()));
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_nlink(entry.get(), nlink.contains(name) ? nlink[name] : 1);
    ASSERT_EQ(archive_write_header(a, entry.get()), ARCHIVE_OK) << archive_error_string(a);
    ASSERT_EQ(archive_write_data(a, contents.data(), contents.size()),
              static_cast<la_ssize_t>(contents.size()));
  }
  for (const auto& [name, target] : links) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                   archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_hardlink(entry.get(), target.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_nlink(entry.get(), 2);
    ASSERT_EQ(archive_write_header(a, entry.get()), ARCHIVE_OK) << archive_error_string(a);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
}

}  // namespace

std::string PseudoRandomBytes(const std::string& seed, size_t size) {
  std::string out;
  std::string block = seed;
  while (out.size() < size) {
    const Sha256Digest digest = Sha256Of(block);
    block.assign(digest.begin(), digest.end());
    out.append(block);
  }
  out.resize(size);
  return out;
}

Files EsxiInstallerFiles(const std::string& seed) {
  return {{"BOOT.CFG", kEsxiBootCfg},
          {"B.B00", PseudoRandomBytes(seed + "b", 6000)},
          {"JUMPSTRT.GZ", PseudoRandomBytes(seed + "j", 3000)},
          {"K.B00", PseudoRandomBytes(seed + "k", 5000)},
          {"S.V00", PseudoRandomBytes(seed + "s", 7000)}};
}

void WriteIso(const std::string& path, const Files& files, const Links& links) {
  std::unique_ptr<archive, WriterFree> a(archive_write_new());
  ASSERT_EQ(archive_write_set_format_iso9660(a.get()), ARCHIVE_OK);
  // Like an ESXi installer: only ISO 9660 names.
  ASSERT_EQ(archive_write_set_options(a.get(), "iso9660:!rockridge,iso9660:!joliet"), ARCHIVE_OK)
      << archive_error_string(a.get());
  WriteArchive(a.get(), path, files, links);
}

void WriteTarball(const std::string& path, const Files& files, bool gzip) {
  std::unique_ptr<archive, WriterFree> a(archive_write_new());
  ASSERT_EQ(archive_write_set_format_pax_restricted(a.get()), ARCHIVE_OK);
  if (gzip) {
    ASSERT_EQ(archive_write_add_filter_gzip(a.get()), ARCHIVE_OK);
  }
  WriteArchive(a.get(), path, files);
}

void WriteFolder(const std::string& dir, const Files& files) {
  for (const auto& [name, contents] : files) {
    const std::filesystem::path file = std::filesystem::path(dir) / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << contents;
  }
}

BlobCount CountBlobs(const std::string& repo) {
  BlobCount count;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(repo + "/blobs/sha256", ec)) {
    if (entry.path().filename().string().starts_with(".tmp-")) {
      ++count.temporaries;
      continue;
    }
    ++count.files;
    count.bytes += entry.file_size();
  }
  return count;
}

}  // namespace midwife::imagebuilder::testing
