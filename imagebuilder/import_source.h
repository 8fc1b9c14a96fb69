#ifndef MIDWIFE_IMAGEBUILDER_IMPORT_SOURCE_H_
#define MIDWIFE_IMAGEBUILDER_IMPORT_SOURCE_H_

// What an image is imported from: a folder, an ISO 9660 image (an ESXi
// installer) or a tarball (.tar, .tgz, .tar.gz and other libarchive filters).
// Archives are read with libarchive, front to back, so an import makes two
// passes: List (names, sizes, and the text of descriptor files) to plan and
// find what is missing, then Read, streaming the chosen members. Nothing is
// extracted to disk: member paths are only compared, never opened, so a
// hostile "../" name is harmless.
//
// Not thread-safe; one import uses one source.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/byte_source.h"
#include "imagebuilder/import_plan.h"

namespace midwife::imagebuilder {

// Most files a source may list, and the largest descriptor kept while listing.
inline constexpr size_t kMaxSourceEntries = 100000;
inline constexpr size_t kMaxDescriptorBytes = kMaxBootCfgBytes;

struct SourceListing {
  std::vector<SourceEntry> entries;                // regular files (hard links as their target)
  std::map<std::string, std::string> descriptors;  // path -> text, for IsDescriptorPath
};

class ImportSource {
 public:
  virtual ~ImportSource() = default;

  // The path given, for messages.
  virtual const std::string& name() const = 0;

  // One pass over the source. Errors name the source and the reason ("not an
  // ISO 9660 image or tarball", a truncated archive).
  virtual absl::StatusOr<SourceListing> List() = 0;

  // Calls `visit` once for each of `paths` (as List returned them) with a
  // stream of its bytes, valid only during the call, in the order the source
  // holds them. Stops at the first error, of the source or of `visit`.
  // NOT_FOUND when a path is gone (the source changed since List).
  using Visitor = std::function<absl::Status(const std::string& path, ByteSource& bytes)>;
  virtual absl::Status Read(const std::set<std::string>& paths, const Visitor& visit) = 0;
};

// A folder when `path` is one, else an archive. NOT_FOUND when absent.
absl::StatusOr<std::unique_ptr<ImportSource>> OpenImportSource(const std::string& path);

std::unique_ptr<ImportSource> MakeFolderSource(std::string path);
std::unique_ptr<ImportSource> MakeArchiveSource(std::string path);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMPORT_SOURCE_H_
