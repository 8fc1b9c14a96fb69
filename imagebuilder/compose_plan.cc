#include "imagebuilder/compose_plan.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {
namespace {

constexpr std::string_view kAfterPrefix = "after:";

std::optional<ModulePosition> ParsePosition(std::string_view text) {
  if (text == "end") return ModulePosition{};
  if (text.starts_with(kAfterPrefix) && text.size() > kAfterPrefix.size()) {
    return ModulePosition{ModulePosition::Kind::kAfter, 0,
                          std::string(text.substr(kAfterPrefix.size()))};
  }
  size_t index = 0;
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      absl::SimpleAtoi(std::string(text), &index)) {
    return ModulePosition{ModulePosition::Kind::kIndex, index, ""};
  }
  return std::nullopt;
}

std::string_view FileName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::vector<ImageModule>::iterator FindIn(std::vector<ImageModule>& modules,
                                          std::string_view name) {
  return std::find_if(modules.begin(), modules.end(),
                      [name](const ImageModule& m) { return SameModuleName(m.name, name); });
}

absl::Status Insert(ImageManifest& image, ImageModule module, const AddModule& add) {
  if (FindModule(image, module.name) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--add ", add.file,
                                                   ": the image already has a module ", module.name,
                                                   "; use --replace ", module.name, "=", add.file));
  }
  auto& modules = image.modules;
  switch (add.position.kind) {
    case ModulePosition::Kind::kEnd:
      modules.push_back(std::move(module));
      break;
    case ModulePosition::Kind::kIndex:
      if (add.position.index > modules.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--add ", add.file, "@", add.position.index,
                                                       ": the image has only ", modules.size(),
                                                       " modules; use 0-", modules.size()));
      }
      modules.insert(modules.begin() + static_cast<std::ptrdiff_t>(add.position.index),
                     std::move(module));
      break;
    case ModulePosition::Kind::kAfter: {
      auto it = FindIn(modules, add.position.after);
      if (it != modules.end()) {
        modules.insert(it + 1, std::move(module));
      } else if (SameModuleName(image.kernel.name, add.position.after)) {
        modules.insert(modules.begin(), std::move(module));
      } else {
        return absl::NotFoundError(absl::StrCat("--add ", add.file, "@after:", add.position.after,
                                                ": the image has no module ", add.position.after));
      }
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AddModule> ParseAddModule(std::string_view text) {
  const size_t at = text.rfind('@');
  if (at != std::string_view::npos) {
    if (std::optional<ModulePosition> position = ParsePosition(text.substr(at + 1))) {
      if (at == 0) return absl::InvalidArgumentError("--add " + std::string(text) + ": no file");
      return AddModule{std::string(text.substr(0, at)), *std::move(position)};
    }
  }
  if (text.empty()) return absl::InvalidArgumentError("--add: no file");
  return AddModule{std::string(text), ModulePosition{}};
}

absl::StatusOr<ReplaceModule> ParseReplaceModule(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return absl::InvalidArgumentError(
        "--replace " + std::string(text) +
        ": expected NAME=FILE, e.g. --replace ixgben.v00=./ixgben.v00");
  }
  return ReplaceModule{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

std::vector<std::string> FilesToStore(const ComposeEdits& edits) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const ReplaceModule& r : edits.replace) {
    if (seen.insert(r.file).second) files.push_back(r.file);
  }
  for (const AddModule& a : edits.add) {
    if (seen.insert(a.file).second) files.push_back(a.file);
  }
  return files;
}

absl::StatusOr<ImageManifest> PlanCompose(const ImageManifest& base, const BlobDigest& base_digest,
                                          const ComposeEdits& edits,
                                          const std::map<std::string, StoredBlob>& stored,
                                          const ImageRef& ref, std::string created) {
  ImageManifest image = base;
  image.ref = ref;
  image.created = std::move(created);
  image.parent = ParentImage{base.ref, base_digest};

  for (const std::string& name : edits.remove) {
    auto it = FindIn(image.modules, name);
    if (it == image.modules.end()) {
      if (SameModuleName(image.kernel.name, name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--remove ", name, ": ", name, " is the kernel; use --replace ", name, "=FILE"));
      }
      return absl::NotFoundError(
          absl::StrCat("--remove ", name, ": ", base.ref.ToString(), " has no module ", name));
    }
    image.modules.erase(it);
  }
  for (const ReplaceModule& replace : edits.replace) {
    const StoredBlob& blob = stored.at(replace.file);
    ImageModule* module = nullptr;
    if (SameModuleName(image.kernel.name, replace.name)) {
      module = &image.kernel;
    } else if (auto it = FindIn(image.modules, replace.name); it != image.modules.end()) {
      module = &*it;
    } else {
      return absl::NotFoundError(absl::StrCat("--replace ", replace.name, "=", replace.file, ": ",
                                              base.ref.ToString(), " has no module ",
                                              replace.name));
    }
    module->digest = blob.digest;
    module->size = blob.size;
  }
  for (const AddModule& add : edits.add) {
    const StoredBlob& blob = stored.at(add.file);
    ImageModule module{std::string(FileName(add.file)), blob.digest, blob.size, ""};
    if (absl::Status valid = ValidateModuleName(module.name); !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--add ", add.file, ": ", std::string(valid.message())));
    }
    RETURN_IF_ERROR(Insert(image, std::move(module), add));
  }
  if (image.modules.size() > kMaxModules) {
    return absl::InvalidArgumentError(absl::StrCat("the composed image would have ",
                                                   image.modules.size(), " modules, more than ",
                                                   kMaxModules));
  }
  if (edits.kernelopt) image.kernelopt = FoldWhiteSpace(*edits.kernelopt);
  if (edits.append_kernelopt) {
    image.kernelopt = FoldWhiteSpace(image.kernelopt + " " + *edits.append_kernelopt);
  }
  if (edits.title) image.title = FoldWhiteSpace(*edits.title);
  RETURN_IF_ERROR(ValidateImage(image));
  return image;
}

}  // namespace midwife::imagebuilder
