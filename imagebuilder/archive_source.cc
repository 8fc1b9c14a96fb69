// An ISO 9660 image or a tarball as an import source, read with libarchive.
//
// ESXi installer ISOs carry plain ISO 9660 names (upper-case 8.3, "B.B00;1";
// libarchive drops the ";1"), sometimes with Joliet or Rock Ridge names on
// top; planning compares names the way the loader does (import_plan.h), so
// all of these match boot.cfg's "/b.b00".

#include <archive.h>
#include <archive_entry.h>

#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/import_source.h"

namespace midwife::imagebuilder {
namespace {

// libarchive reads the file in blocks of this size.
constexpr size_t kArchiveBlockBytes = 64 * 1024;

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string ArchiveMessage(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

// "./a/b", "/a/b" -> "a/b".
std::string EntryPath(archive_entry* entry) {
  const char* raw = archive_entry_pathname(entry);
  std::string_view path = raw != nullptr ? raw : "";
  while (path.starts_with("./") || path.starts_with('/'))
    path.remove_prefix(path.front() == '/' ? 1 : 2);
  return std::string(path);
}

// The data of the current entry. Checks that it is as long as the header
// says, so that no reader quirk can turn a cut-off archive into a short blob.
class ArchiveEntryBytes : public ByteSource {
 public:
  ArchiveEntryBytes(archive* a, archive_entry* entry, std::string what)
      : archive_(a),
        what_(std::move(what)),
        expected_(archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1) {}

  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    const la_ssize_t n = archive_read_data(archive_, buffer, size);
    if (n < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot read ", what_, ": ", ArchiveMessage(archive_), " (truncated or corrupt?)"));
    }
    read_ += n;
    if (n == 0 && expected_ >= 0 && read_ != expected_) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", what_, ": got ", read_, " of ",
                                                     expected_, " bytes (truncated or corrupt?)"));
    }
    return static_cast<size_t>(n);
  }

 private:
  archive* archive_;
  std::string what_;
  int64_t expected_;
  int64_t read_ = 0;
};

class ArchiveSource : public ImportSource {
 public:
  explicit ArchiveSource(std::string path) : path_(std::move(path)) {}

  const std::string& name() const override { return path_; }

  absl::StatusOr<SourceListing> List() override {
    ASSIGN_OR_RETURN(ArchivePtr a, Open());
    SourceListing listing;
    std::map<std::string, size_t> index;  // path -> position in entries, for hard links
    archive_entry* entry = nullptr;
    while (true) {
      ASSIGN_OR_RETURN(const bool more, Next(a.get(), &entry));
      if (!more) break;
      const std::string path = EntryPath(entry);
      const char* link = archive_entry_hardlink(entry);
      if (link != nullptr) {
        std::string target = link;
        while (target.starts_with("./") || target.starts_with('/')) {
          target.erase(0, target.front() == '/' ? 1 : 2);
        }
        const auto it = index.find(target);
        if (it == index.end()) continue;  // a link to something we skipped
        const SourceEntry& data = listing.entries[it->second];
        listing.entries.push_back(
            {path, data.size, data.link_target.empty() ? data.path : data.link_target});
        continue;
      }
      if (archive_entry_filetype(entry) != AE_IFREG) continue;
      if (listing.entries.size() >= kMaxSourceEntries) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, " holds more than ", kMaxSourceEntries, " files"));
      }
      const int64_t size = archive_entry_size(entry);
      index[path] = listing.entries.size();
      listing.entries.push_back({path, static_cast<uint64_t>(size < 0 ? 0 : size), ""});
      if (IsDescriptorPath(path)) {
        if (size > static_cast<int64_t>(kMaxDescriptorBytes)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": ", path, " is ", size, " bytes, more than a boot.cfg can be"));
        }
        std::string text;
        ArchiveEntryBytes bytes(a.get(), entry, absl::StrCat(path_, ": ", path));
        char buffer[8192];
        while (true) {
          ASSIGN_OR_RETURN(const size_t n, bytes.Read(buffer, sizeof buffer));
          if (n == 0) break;
          if (text.size() + n > kMaxDescriptorBytes) {
            return absl::InvalidArgumentError(
                absl::StrCat(path_, ": ", path, " is larger than a boot.cfg can be"));
          }
          text.append(buffer, n);
        }
        listing.descriptors[path] = std::move(text);
      }
    }
    return listing;
  }

  absl::Status Read(const std::set<std::string>& paths, const Visitor& visit) override {
    ASSIGN_OR_RETURN(ArchivePtr a, Open());
    std::set<std::string> pending = paths;
    archive_entry* entry = nullptr;
    while (!pending.empty()) {
      ASSIGN_OR_RETURN(const bool more, Next(a.get(), &entry));
      if (!more) break;
      if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr)
        continue;
      const auto it = pending.find(EntryPath(entry));
      if (it == pending.end()) continue;
      ArchiveEntryBytes bytes(a.get(), entry, absl::StrCat(path_, ": ", *it));
      RETURN_IF_ERROR(visit(*it, bytes));
      pending.erase(it);
    }
    if (!pending.empty()) {
      return absl::NotFoundError(absl::StrCat(path_, ": ", *pending.begin(),
                                              " was listed but is gone; did the file change?"));
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<ArchivePtr> Open() {
    ArchivePtr a(archive_read_new());
    if (!a) return absl::ResourceExhaustedError("libarchive: out of memory");
    archive_read_support_format_iso9660(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_all(a.get());
    if (archive_read_open_filename(a.get(), path_.c_str(), kArchiveBlockBytes) != ARCHIVE_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, " is not an ISO 9660 image or a tarball (", ArchiveMessage(a.get()),
                       "); give an ESXi installer ISO, a .tar/.tgz or a folder"));
    }
    return a;
  }

  // Advances to the next entry; false at the end.
  absl::StatusOr<bool> Next(archive* a, archive_entry** entry) {
    const int r = archive_read_next_header(a, entry);
    if (r == ARCHIVE_EOF) return false;
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN) return true;
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path_, ": ", ArchiveMessage(a), " (truncated or corrupt?)"));
  }

  std::string path_;
};

}  // namespace

std::unique_ptr<ImportSource> MakeArchiveSource(std::string path) {
  return std::make_unique<ArchiveSource>(std::move(path));
}

}  // namespace midwife::imagebuilder
