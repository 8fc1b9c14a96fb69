#include "core/tar_layer_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/archive_handles.h"
#include "core/gunzip_stream.h"
#include "core/status_macros.h"
#include "core/tar_entry_rules.h"

namespace midwife {
namespace {

// Debian's Abseil has its own string_view, distinct from std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Refuse(absl::string_view layer, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(layer, ": ", reason));
}

absl::Status RefuseEntry(absl::string_view layer, std::string_view entry,
                         absl::string_view reason) {
  return Refuse(layer, absl::StrCat("entry ", QuoteTarName(entry), ": ", reason));
}

// libarchive's read callback: the tar stream is what GunzipStream inflates.
la_ssize_t ReadInflated(archive* a, void* client, const void** buffer) {
  auto chunk = static_cast<GunzipStream*>(client)->Next();
  if (!chunk.ok()) {
    // The stream keeps the real reason; see LayerReader::Failure.
    archive_set_error(a, EINVAL, "%s", "gzip stream failed");
    return ARCHIVE_FATAL;
  }
  *buffer = chunk->data();
  return static_cast<la_ssize_t>(chunk->size());
}

class LayerReader {
 public:
  LayerReader(std::string_view gz, const TarLayerOptions& options, TarBudget& budget)
      : options_(options), budget_(budget), source_(gz, &budget.bytes, budget.max_bytes) {}

  absl::StatusOr<TarLayerMembers> Read() {
    ArchiveReadHandle a(archive_read_new());
    if (a == nullptr) return absl::ResourceExhaustedError("libarchive: out of memory");
    archive_read_support_format_tar(a.get());
    if (archive_read_open(a.get(), &source_, nullptr, &ReadInflated, nullptr) != ARCHIVE_OK) {
      return Failure(a.get(), "");
    }
    for (;;) {
      archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return Failure(
            a.get(), entries_ == 0 ? "" : absl::StrCat("after entry ", QuoteTarName(last_), ": "));
      }
      RETURN_IF_ERROR(Entry(a.get(), entry));
    }
    if (entries_ == 0) return Refuse(options_.name, "empty archive");
    std::string link;
    if (absl::Status s = links_.CheckAllInside(&link); !s.ok()) {
      return RefuseEntry(options_.name, link, s.message());
    }
    // The tar end marker is not the end of the gzip stream: read the rest
    // (padding, then the trailer with its checksum) to know it is whole.
    for (;;) {
      auto chunk = source_.Next();
      if (!chunk.ok()) return SourceFailure("after the end of the tar archive: ");
      if (chunk->empty()) break;
    }
    return std::move(members_);
  }

 private:
  absl::Status Entry(archive* a, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
    const std::string_view name = raw != nullptr ? raw : "";
    last_ = name;
    ++entries_;
    if (++budget_.entries > budget_.max_entries) {
      return RefuseEntry(
          options_.name, name,
          absl::StrCat("more than ", budget_.max_entries, " entries (all layers together)"));
    }
    RETURN_IF_ERROR(CheckEntry(entry, name));
    std::string* sink = nullptr;
    if (archive_entry_hardlink(entry) == nullptr && archive_entry_filetype(entry) == AE_IFREG) {
      sink = NoteMember();
    }
    if (sink != nullptr && archive_entry_size_is_set(entry)) {
      // Refuse at once what cannot fit, rather than after inflating it.
      const uint64_t size = static_cast<uint64_t>(archive_entry_size(entry));
      if (budget_.bytes >= budget_.max_bytes || size > budget_.max_bytes - budget_.bytes) {
        return RefuseEntry(options_.name, name, LimitReason());
      }
      sink->reserve(size);
    }
    return ReadData(a, name, sink);
  }

  absl::Status CheckEntry(archive_entry* entry, std::string_view name) {
    auto path = NormalizeTarPath(name);
    if (!path.ok()) return RefuseEntry(options_.name, name, path.status().message());
    path_ = std::move(*path);
    const char* hardlink = archive_entry_hardlink(entry);
    const unsigned type = archive_entry_filetype(entry);
    if (path_.empty() && (hardlink != nullptr || type != AE_IFDIR)) {
      return RefuseEntry(options_.name, name, "the root of the tree can only be a folder");
    }
    // The root folder itself ("./", as `tar -C dir .` writes) is not "outside".
    if (!options_.only_folder.empty() && !path_.empty() &&
        !IsInFolder(path_, options_.only_folder)) {
      return RefuseEntry(options_.name, name, absl::StrCat("outside ", options_.only_folder, "/"));
    }
    std::string symlink_target;
    bool is_symlink = false;
    if (hardlink != nullptr) {
      auto target = NormalizeHardlinkTarget(hardlink);
      if (!target.ok()) return RefuseEntry(options_.name, name, target.status().message());
      if (!options_.only_folder.empty() && !IsInFolder(*target, options_.only_folder)) {
        return RefuseEntry(options_.name, name,
                           absl::StrCat("hard link target ", QuoteTarName(hardlink), " is outside ",
                                        options_.only_folder, "/"));
      }
    } else if (std::string_view problem = EntryTypeProblem(type); !problem.empty()) {
      return RefuseEntry(options_.name, name, Absl(problem));
    } else if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      symlink_target = target != nullptr ? target : "";
      is_symlink = true;
      absl::Status s = CheckSymlinkTarget(path_, symlink_target);
      if (!s.ok()) return RefuseEntry(options_.name, name, s.message());
    }
    absl::Status s = links_.Add(name, path_, is_symlink ? &symlink_target : nullptr);
    if (!s.ok()) return RefuseEntry(options_.name, name, s.message());
    return absl::OkStatus();
  }

  // Records a top-level member asked for; returns where to keep its bytes.
  std::string* NoteMember() {
    const auto& members = options_.members;
    if (std::find(members.begin(), members.end(), path_) == members.end()) return nullptr;
    members_.present.insert(path_);
    const auto& keep = options_.keep;
    if (std::find(keep.begin(), keep.end(), path_) == keep.end()) return nullptr;
    std::string& content = members_.kept[path_];
    content.clear();  // A later copy replaces an earlier one, as extraction would.
    return &content;
  }

  // Every entry's data is read, never skipped: skipping would inflate behind
  // the budget's back. Blocks point into the inflated stream; only kept
  // members are copied.
  absl::Status ReadData(archive* a, std::string_view name, std::string* sink) {
    for (;;) {
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(a, &block, &size, &offset);
      if (r == ARCHIVE_EOF) return absl::OkStatus();
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return Failure(a, absl::StrCat("entry ", QuoteTarName(name), ": "));
      }
      if (sink == nullptr) continue;
      // A sparse member has holes; they are filled, within the budget.
      if (offset < 0 || static_cast<uint64_t>(offset) + size > budget_.max_bytes) {
        return RefuseEntry(options_.name, name, LimitReason());
      }
      if (static_cast<size_t>(offset) > sink->size()) sink->resize(offset);
      sink->replace(offset, size, static_cast<const char*>(block), size);
    }
  }

  std::string LimitReason() const {
    return absl::StrCat("more than ", budget_.max_bytes,
                        " bytes uncompressed (all layers together)");
  }

  absl::Status SourceFailure(absl::string_view where) {
    const absl::Status& s = source_.status();
    if (absl::IsResourceExhausted(s)) {
      return Refuse(options_.name, absl::StrCat(where, LimitReason()));
    }
    return Refuse(options_.name, absl::StrCat(where, s.message()));
  }

  // Explains why libarchive gave up: the gzip stream's own error first (it
  // knows about limits, truncation and corruption), else libarchive's.
  absl::Status Failure(archive* a, absl::string_view where) {
    if (!source_.status().ok()) return SourceFailure(where);
    const char* why = archive_error_string(a);
    const std::string detail = absl::StrCat("(libarchive: ", why != nullptr ? why : "unknown", ")");
    if (entries_ == 0 && where.empty()) {
      return Refuse(options_.name, absl::StrCat("not a tar archive ", detail));
    }
    return Refuse(options_.name, absl::StrCat(where, "damaged or truncated tar archive ", detail));
  }

  const TarLayerOptions& options_;
  TarBudget& budget_;
  GunzipStream source_;
  SymlinkTree links_;
  TarLayerMembers members_;
  size_t entries_ = 0;
  std::string last_;  // Name of the latest entry, as written.
  std::string path_;  // ...and normalized.
};

}  // namespace

absl::StatusOr<TarLayerMembers> ReadTarLayer(std::string_view gz, const TarLayerOptions& options,
                                             TarBudget& budget) {
  return LayerReader(gz, options, budget).Read();
}

}  // namespace midwife
