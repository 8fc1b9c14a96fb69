#ifndef MIDWIFE_IMAGEBUILDER_MODULE_INDEX_H_
#define MIDWIFE_IMAGEBUILDER_MODULE_INDEX_H_

// An image's kernel, modules and loaders by name, for a server that looks a
// module up on every request of every booting host: FindModule's answers
// from one hash lookup instead of a case-insensitive scan of the image's
// hundred-odd names.

#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "imagebuilder/image_manifest.h"

namespace midwife::imagebuilder {

// Immutable once built; safe to share between threads.
class ModuleIndex {
 public:
  explicit ModuleIndex(std::shared_ptr<const ImageManifest> image);

  // Exactly FindModule(image(), name).
  const ImageModule* Find(std::string_view name) const;
  const ImageManifest& image() const { return *image_; }

 private:
  std::shared_ptr<const ImageManifest> image_;
  absl::flat_hash_map<std::string, const ImageModule*> by_key_;  // ModuleNameKey -> first match
};

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_MODULE_INDEX_H_
