#ifndef MIDWIFE_IMAGEBUILDER_COMPOSE_PLAN_H_
#define MIDWIFE_IMAGEBUILDER_COMPOSE_PLAN_H_

// Composing an image: a stored image plus edits (add a vendor driver, drop a
// module, swap one, change the kernel command line) gives a new image that
// records its parent. Pure: the files to add are stored first (image_compose.h)
// and arrive here as digests.
//
// Edits apply in this order, each in the order given:
//   --remove NAME            drop a module (not the kernel: replace it instead)
//   --replace NAME=FILE      new content for a module or the kernel; its name,
//                            options and place stay, so a diff shows "changed"
//   --add FILE[@POSITION]    a new module named after FILE's file name;
//                            POSITION: "end" (default), a 0-based index into
//                            the module list (0 = first after the kernel), or
//                            "after:NAME"
//   --kernelopt TEXT         set the kernel command line
//   --append-kernelopt TEXT  then append to it, after one space
//   --title TEXT             set the title
// Module names compare as the loader does (SameModuleName: any case).

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/image_manifest.h"
#include "imagebuilder/image_ref.h"

namespace midwife::imagebuilder {

struct ModulePosition {
  enum class Kind { kEnd, kIndex, kAfter };
  Kind kind = Kind::kEnd;
  size_t index = 0;   // kIndex
  std::string after;  // kAfter: a module name

  friend bool operator==(const ModulePosition&, const ModulePosition&) = default;
};

struct AddModule {
  std::string file;
  ModulePosition position;

  friend bool operator==(const AddModule&, const AddModule&) = default;
};

struct ReplaceModule {
  std::string name;
  std::string file;

  friend bool operator==(const ReplaceModule&, const ReplaceModule&) = default;
};

// (Every member has an initializer, so that designated initializers may name
// only the edits they make.)
struct ComposeEdits {
  std::vector<std::string> remove = {};
  std::vector<ReplaceModule> replace = {};
  std::vector<AddModule> add = {};
  std::optional<std::string> kernelopt = std::nullopt;
  std::optional<std::string> append_kernelopt = std::nullopt;
  std::optional<std::string> title = std::nullopt;
};

// "FILE", "FILE@end", "FILE@3", "FILE@after:s.v00". A FILE holding '@' is
// fine when what follows its last '@' is no position ("a@b.v00").
absl::StatusOr<AddModule> ParseAddModule(std::string_view text);
// "NAME=FILE".
absl::StatusOr<ReplaceModule> ParseReplaceModule(std::string_view text);

// Every file the edits read (add and replace), each once, in order.
std::vector<std::string> FilesToStore(const ComposeEdits& edits);

// Applies `edits` to `base` (stored as `base_digest`) and returns the new image
// `ref`, created at `created`, with `base` as its parent. `stored` holds the
// blob of every file of FilesToStore. Errors are INVALID_ARGUMENT (a bad name,
// a position out of range) or NOT_FOUND (a module to remove or replace that
// the image does not have), naming the edit.
absl::StatusOr<ImageManifest> PlanCompose(const ImageManifest& base, const BlobDigest& base_digest,
                                          const ComposeEdits& edits,
                                          const std::map<std::string, StoredBlob>& stored,
                                          const ImageRef& ref, std::string created);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_COMPOSE_PLAN_H_
