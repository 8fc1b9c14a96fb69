#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_DIFF_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_DIFF_H_

// What changed from one image to another, as an admin reviewing a composed
// image or a vendor update wants to see it. Pure.
//
// Modules (the kernel included) are matched by name (SameModuleName): a name
// only in `to` is added, only in `from` removed, in both with another digest
// or other options changed. Settings compare as text.

#include <optional>
#include <string>
#include <vector>

#include "imagebuilder/image_manifest.h"

namespace midwife::imagebuilder {

struct ModuleChange {
  ImageModule from;
  ImageModule to;
};

struct SettingChange {
  // "kind", "title", "kernelopt", "build", "timeout", "loader_options" or
  // "unknown_keys" (the last two as "key=value ...").
  std::string key;
  std::string from;
  std::string to;
};

struct ImageDiff {
  std::vector<ImageModule> added;    // in `to` order
  std::vector<ImageModule> removed;  // in `from` order
  std::vector<ModuleChange> changed;
  // True when the modules both images hold are in another relative order.
  bool reordered = false;
  std::vector<SettingChange> settings;

  bool empty() const {
    return added.empty() && removed.empty() && changed.empty() && !reordered && settings.empty();
  }
};

ImageDiff DiffImages(const ImageManifest& from, const ImageManifest& to);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_DIFF_H_
