#include "imagebuilder/image_diff.h"

#include "absl/strings/str_cat.h"
#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {
namespace {

std::vector<const ImageModule*> AllModules(const ImageManifest& image) {
  std::vector<const ImageModule*> out = {&image.kernel};
  for (const ImageModule& module : image.modules) out.push_back(&module);
  // Loaders last, after the boot order, so that gaining or losing one shows as
  // an added or removed file and never as a reordering.
  for (const ImageModule& loader : image.loaders) out.push_back(&loader);
  return out;
}

const ImageModule* Find(const std::vector<const ImageModule*>& modules, const std::string& name) {
  for (const ImageModule* module : modules) {
    if (SameModuleName(module->name, name)) return module;
  }
  return nullptr;
}

void CompareSetting(std::vector<SettingChange>& out, std::string key, std::string from,
                    std::string to) {
  if (from != to) out.push_back({std::move(key), std::move(from), std::move(to)});
}

std::string TimeoutText(const std::optional<int>& timeout) {
  return timeout ? absl::StrCat(*timeout) : "";
}

std::string PairsText(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [key, value] : pairs)
    absl::StrAppend(&out, out.empty() ? "" : " ", key, "=", value);
  return out;
}

}  // namespace

ImageDiff DiffImages(const ImageManifest& from, const ImageManifest& to) {
  ImageDiff diff;
  const std::vector<const ImageModule*> before = AllModules(from);
  const std::vector<const ImageModule*> after = AllModules(to);
  std::vector<std::string> common_before;  // names in both, in `from` order
  for (const ImageModule* module : before) {
    const ImageModule* other = Find(after, module->name);
    if (other == nullptr) {
      diff.removed.push_back(*module);
      continue;
    }
    common_before.push_back(module->name);
    if (other->digest != module->digest || other->options != module->options) {
      diff.changed.push_back({*module, *other});
    }
  }
  size_t next_common = 0;
  for (const ImageModule* module : after) {
    if (Find(before, module->name) == nullptr) {
      diff.added.push_back(*module);
      continue;
    }
    if (!SameModuleName(common_before[next_common++], module->name)) diff.reordered = true;
  }
  CompareSetting(diff.settings, "kind", std::string(ImageKindName(from.kind)),
                 std::string(ImageKindName(to.kind)));
  CompareSetting(diff.settings, "title", from.title, to.title);
  CompareSetting(diff.settings, "kernelopt", from.kernelopt, to.kernelopt);
  CompareSetting(diff.settings, "build", from.build, to.build);
  CompareSetting(diff.settings, "timeout", TimeoutText(from.timeout), TimeoutText(to.timeout));
  CompareSetting(diff.settings, "loader_options", PairsText(from.loader_options),
                 PairsText(to.loader_options));
  CompareSetting(diff.settings, "unknown_keys", PairsText(from.unknown_keys),
                 PairsText(to.unknown_keys));
  return diff;
}

}  // namespace midwife::imagebuilder
