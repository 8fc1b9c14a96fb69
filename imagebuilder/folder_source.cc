// A folder as an import source: the files of an installer ISO copied out, or a
// Linux kernel and initrds beside a linux.cfg.

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "imagebuilder/import_source.h"

namespace midwife::imagebuilder {
namespace {

namespace fs = std::filesystem;

class FolderSource : public ImportSource {
 public:
  explicit FolderSource(std::string path) : path_(std::move(path)) {}

  const std::string& name() const override { return path_; }

  absl::StatusOr<SourceListing> List() override {
    SourceListing listing;
    std::error_code ec;
    // Symbolic links to files are followed (a hand-made folder may use them);
    // links to folders are not, so a loop cannot trap the walk.
    fs::recursive_directory_iterator it(path_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code entry_error;
      if (!it->is_regular_file(entry_error)) continue;
      if (listing.entries.size() >= kMaxSourceEntries) {
        return absl::InvalidArgumentError(absl::StrCat(path_, " holds more than ",
                                                       kMaxSourceEntries,
                                                       " files; point at the image's own folder"));
      }
      const std::string relative = it->path().lexically_relative(path_).generic_string();
      const uint64_t size = it->file_size(entry_error);
      listing.entries.push_back({relative, size, ""});
      if (IsDescriptorPath(relative)) {
        ASSIGN_OR_RETURN(listing.descriptors[relative],
                         ReadFile(it->path().string(), kMaxDescriptorBytes));
      }
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", path_, ": ", ec.message()));
    return listing;
  }

  absl::Status Read(const std::set<std::string>& paths, const Visitor& visit) override {
    for (const std::string& relative : paths) {
      const std::string full = (fs::path(path_) / relative).string();
      ASSIGN_OR_RETURN(std::unique_ptr<FileByteSource> file, FileByteSource::Open(full));
      RETURN_IF_ERROR(visit(relative, *file));
    }
    return absl::OkStatus();
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<ImportSource> MakeFolderSource(std::string path) {
  return std::make_unique<FolderSource>(std::move(path));
}

}  // namespace midwife::imagebuilder
