#include "tests/support/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <memory>

#include "core/archive_handles.h"
#include "gtest/gtest.h"

namespace midwife::testing {
namespace {

la_ssize_t Append(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

void Check(archive* a, int r, std::string_view what) {
  if (r < ARCHIVE_WARN) ADD_FAILURE() << "libarchive, " << what << ": " << archive_error_string(a);
}

}  // namespace

TarBuilder::TarBuilder(Compression compression) : archive_(archive_write_new()) {
  Check(archive_, archive_write_set_format_pax_restricted(archive_), "pax");
  if (compression != Compression::kNone) {
    Check(archive_, archive_write_add_filter_gzip(archive_), "gzip");
    // No mtime in the gzip header, so the bytes are reproducible.
    Check(archive_, archive_write_set_filter_option(archive_, "gzip", "timestamp", nullptr),
          "gzip timestamp");
  }
  if (compression == Compression::kGzipFast) {
    Check(archive_, archive_write_set_filter_option(archive_, "gzip", "compression-level", "1"),
          "gzip level");
  }
  if (compression == Compression::kGzipStored) {
    Check(archive_, archive_write_set_filter_option(archive_, "gzip", "compression-level", "0"),
          "gzip level");
  }
  // No padding to 10 KiB records: small archives stay small.
  Check(archive_, archive_write_set_bytes_in_last_block(archive_, 1), "block size");
  Check(archive_, archive_write_open(archive_, &out_, nullptr, &Append, nullptr), "open");
}

TarBuilder::~TarBuilder() {
  if (archive_ != nullptr) archive_write_free(archive_);
}

archive_entry* TarBuilder::NewEntry(const std::string& name, unsigned type, int mode) {
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, name.c_str());
  archive_entry_set_filetype(entry, type);
  archive_entry_set_perm(entry, static_cast<mode_t>(mode));
  archive_entry_set_mtime(entry, 0, 0);
  archive_entry_set_uid(entry, 0);
  archive_entry_set_gid(entry, 0);
  archive_entry_set_uname(entry, "root");
  archive_entry_set_gname(entry, "root");
  archive_entry_set_size(entry, 0);
  return entry;
}

void TarBuilder::WriteHeader(archive_entry* entry, const std::string& name) {
  Check(archive_, archive_write_header(archive_, entry), "header of " + name);
  archive_entry_free(entry);
}

TarBuilder& TarBuilder::File(const std::string& name, std::string_view contents, int mode) {
  archive_entry* entry = NewEntry(name, AE_IFREG, mode);
  archive_entry_set_size(entry, static_cast<la_int64_t>(contents.size()));
  WriteHeader(entry, name);
  if (!contents.empty() && archive_write_data(archive_, contents.data(), contents.size()) !=
                               static_cast<la_ssize_t>(contents.size())) {
    ADD_FAILURE() << "libarchive, data of " << name << ": " << archive_error_string(archive_);
  }
  return *this;
}

TarBuilder& TarBuilder::ZeroFile(const std::string& name, uint64_t size) {
  archive_entry* entry = NewEntry(name, AE_IFREG, 0644);
  archive_entry_set_size(entry, static_cast<la_int64_t>(size));
  WriteHeader(entry, name);
  const std::string zeros(1 << 20, '\0');
  for (uint64_t left = size; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
    if (archive_write_data(archive_, zeros.data(), n) != static_cast<la_ssize_t>(n)) {
      ADD_FAILURE() << "libarchive, data of " << name << ": " << archive_error_string(archive_);
      break;
    }
    left -= n;
  }
  return *this;
}

TarBuilder& TarBuilder::Dir(const std::string& name, int mode) {
  WriteHeader(NewEntry(name, AE_IFDIR, mode), name);
  return *this;
}

TarBuilder& TarBuilder::Symlink(const std::string& name, const std::string& target) {
  archive_entry* entry = NewEntry(name, AE_IFLNK, 0777);
  archive_entry_set_symlink(entry, target.c_str());
  WriteHeader(entry, name);
  return *this;
}

TarBuilder& TarBuilder::Hardlink(const std::string& name, const std::string& target) {
  archive_entry* entry = NewEntry(name, AE_IFREG, 0644);
  archive_entry_set_hardlink(entry, target.c_str());
  WriteHeader(entry, name);
  return *this;
}

TarBuilder& TarBuilder::CharDevice(const std::string& name, int major, int minor) {
  archive_entry* entry = NewEntry(name, AE_IFCHR, 0666);
  archive_entry_set_rdev(entry, makedev(major, minor));
  WriteHeader(entry, name);
  return *this;
}

TarBuilder& TarBuilder::BlockDevice(const std::string& name, int major, int minor) {
  archive_entry* entry = NewEntry(name, AE_IFBLK, 0660);
  archive_entry_set_rdev(entry, makedev(major, minor));
  WriteHeader(entry, name);
  return *this;
}

TarBuilder& TarBuilder::Fifo(const std::string& name) {
  WriteHeader(NewEntry(name, AE_IFIFO, 0644), name);
  return *this;
}

std::string TarBuilder::Finish() {
  Check(archive_, archive_write_close(archive_), "close");
  archive_write_free(archive_);
  archive_ = nullptr;
  return std::move(out_);
}

namespace {

std::string Build(const std::vector<TarMember>& members, TarBuilder::Compression compression) {
  TarBuilder tar(compression);
  for (const TarMember& m : members) {
    switch (m.type) {
      case TarMember::Type::kFile:
        tar.File(m.name, m.data);
        break;
      case TarMember::Type::kDir:
        tar.Dir(m.name);
        break;
      case TarMember::Type::kSymlink:
        tar.Symlink(m.name, m.link_target);
        break;
      case TarMember::Type::kHardlink:
        tar.Hardlink(m.name, m.link_target);
        break;
      case TarMember::Type::kCharDevice:
        tar.CharDevice(m.name);
        break;
      case TarMember::Type::kBlockDevice:
        tar.BlockDevice(m.name);
        break;
      case TarMember::Type::kFifo:
        tar.Fifo(m.name);
        break;
    }
  }
  return tar.Finish();
}

}  // namespace

std::string MakeTgzOf(const std::vector<TarMember>& members) {
  return Build(members, TarBuilder::Compression::kGzip);
}

std::string MakeTarOf(const std::vector<TarMember>& members) {
  return Build(members, TarBuilder::Compression::kNone);
}

std::string MakeTgz(const std::map<std::string, std::string>& files) {
  TarBuilder tar;
  for (const auto& [name, contents] : files) tar.File(name, contents);
  return tar.Finish();
}

std::string Gzip(std::string_view data) {
  std::string out;
  ArchiveWriteHandle a(archive_write_new());
  Check(a.get(), archive_write_set_format_raw(a.get()), "raw");
  Check(a.get(), archive_write_add_filter_gzip(a.get()), "gzip");
  Check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr),
        "gzip timestamp");
  Check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "compression-level", "1"),
        "gzip level");
  Check(a.get(), archive_write_set_bytes_in_last_block(a.get(), 1), "block size");
  Check(a.get(), archive_write_open(a.get(), &out, nullptr, &Append, nullptr), "open");
  archive_entry* entry = archive_entry_new();
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
  Check(a.get(), archive_write_header(a.get(), entry), "raw header");
  archive_entry_free(entry);
  if (!data.empty() && archive_write_data(a.get(), data.data(), data.size()) !=
                           static_cast<la_ssize_t>(data.size())) {
    ADD_FAILURE() << "libarchive, raw data: " << archive_error_string(a.get());
  }
  Check(a.get(), archive_write_close(a.get()), "close");
  return out;
}

std::string MakeLocalTgz(const std::map<std::string, std::string>& etc_files) {
  return MakeTgz(etc_files);
}

std::string MakeEsxiStateTgz(const std::map<std::string, std::string>& etc_files) {
  return MakeTgz({{"local.tgz", MakeLocalTgz(etc_files)}});
}

std::string MakeConfigBundle(const std::string& release_level,
                             const std::map<std::string, std::string>& etc_files) {
  std::string manifest = "UUID=4c4c4544-0042-4810-8051-b4c04f4d5a31\n";
  if (!release_level.empty()) manifest += "RELEASELEVEL=" + release_level + "\n";
  manifest += "BUILD=22380479\n";
  return MakeTgz({{"Manifest.txt", manifest}, {"state.tgz", MakeEsxiStateTgz(etc_files)}});
}

std::string MakeEncryptedEsxiStateTgz() {
  std::string sealed(4096, '\0');
  uint32_t x = 2463534242u;  // xorshift32: fixed, random-looking bytes
  for (char& c : sealed) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return MakeTgz({{"local.tgz.ve", sealed}, {"encryption.info", "opaque to midwife\n"}});
}

}  // namespace midwife::testing
