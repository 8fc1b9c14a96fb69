#include "imagebuilder/module_index.h"

#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {

ModuleIndex::ModuleIndex(std::shared_ptr<const ImageManifest> image) : image_(std::move(image)) {
  // FindModule's order: the kernel, the modules, then the loaders; the first
  // of several same-named entries wins.
  const auto add = [this](const ImageModule& m) {
    std::string key = ModuleNameKey(m.name);
    if (!key.empty()) by_key_.emplace(std::move(key), &m);
  };
  add(image_->kernel);
  for (const ImageModule& m : image_->modules) add(m);
  for (const ImageModule& m : image_->loaders) add(m);
}

const ImageModule* ModuleIndex::Find(std::string_view name) const {
  auto it = by_key_.find(ModuleNameKey(name));
  return it == by_key_.end() ? nullptr : it->second;
}

}  // namespace midwife::imagebuilder
