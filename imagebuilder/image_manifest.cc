#include "imagebuilder/image_manifest.h"

#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/json_fields.h"

namespace midwife::imagebuilder {
namespace {

using json_fields::FieldError;
using json_fields::OptionalString;
using json_fields::RequiredString;
using nlohmann::json;

constexpr size_t kMaxModuleNameBytes = 255;

json PairsJson(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json out = json::array();
  for (const auto& [key, value] : pairs) out.push_back(json::array({key, value}));
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParsePairs(
    const json& object, const std::string& key) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return FieldError("boot." + key, "an array of [key, value] pairs");
  for (const json& pair : *it) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return FieldError("boot." + key, "an array of [key, value] string pairs");
    }
    out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

OciDescriptor LayerOf(const ImageModule& module, std::string_view media_type) {
  OciDescriptor d{std::string(media_type), module.digest, module.size, {}};
  d.annotations[std::string(kTitleAnnotation)] = module.name;
  if (!module.options.empty())
    d.annotations[std::string(kModuleOptionsAnnotation)] = module.options;
  return d;
}

absl::StatusOr<ImageModule> ModuleOf(const OciDescriptor& layer, size_t index,
                                     std::string_view media_type) {
  const std::string where = absl::StrCat("layers[", index, "]");
  if (layer.media_type != media_type) return FieldError(where + ".mediaType", media_type);
  const auto title = layer.annotations.find(std::string(kTitleAnnotation));
  if (title == layer.annotations.end()) {
    return FieldError(where + ".annotations", "an org.opencontainers.image.title");
  }
  ImageModule module{title->second, layer.digest, layer.size, ""};
  const auto options = layer.annotations.find(std::string(kModuleOptionsAnnotation));
  if (options != layer.annotations.end()) module.options = options->second;
  return module;
}

absl::Status ValidateModule(const ImageModule& module, std::set<std::string>& seen) {
  RETURN_IF_ERROR(ValidateModuleName(module.name));
  if (module.digest.empty()) {
    return absl::InvalidArgumentError("module " + module.name + " has no digest");
  }
  if (module.options.find(kModuleSeparator) != std::string::npos) {
    return absl::InvalidArgumentError("module " + module.name +
                                      ": options may not contain \"---\"");
  }
  if (!seen.insert(absl::AsciiStrToLower(module.name)).second) {
    return absl::InvalidArgumentError("module name " + module.name +
                                      " appears twice (names are compared ignoring case)");
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ImageKindName(ImageKind kind) {
  return kind == ImageKind::kLinux ? "linux" : "esxi";
}

absl::StatusOr<ImageKind> ParseImageKind(std::string_view name) {
  if (name == "esxi") return ImageKind::kEsxi;
  if (name == "linux") return ImageKind::kLinux;
  return absl::InvalidArgumentError("image kind \"" + std::string(name) +
                                    "\": expected esxi or linux");
}

std::string FormatCreated(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

bool SameContent(const ImageManifest& a, const ImageManifest& b) {
  ImageManifest b_at_a_time = b;
  b_at_a_time.created = a.created;
  return a == b_at_a_time;
}

uint64_t TotalBytes(const ImageManifest& image) {
  uint64_t total = image.kernel.size;
  for (const ImageModule& module : image.modules) total += module.size;
  for (const ImageModule& loader : image.loaders) total += loader.size;
  return total;
}

const ImageModule* FindModule(const ImageManifest& image, std::string_view name) {
  if (SameModuleName(image.kernel.name, name)) return &image.kernel;
  for (const ImageModule& module : image.modules) {
    if (SameModuleName(module.name, name)) return &module;
  }
  return FindLoader(image, name);
}

const ImageModule* FindLoader(const ImageManifest& image, std::string_view name) {
  for (const ImageModule& loader : image.loaders) {
    if (SameModuleName(loader.name, name)) return &loader;
  }
  return nullptr;
}

BootCfg ToBootCfg(const ImageManifest& image) {
  BootCfg cfg;
  cfg.title = image.title;
  cfg.timeout = image.timeout;
  cfg.kernel = image.kernel.name;
  cfg.kernel_options = image.kernel.options;
  cfg.kernelopt = image.kernelopt;
  cfg.modules.reserve(image.modules.size() + 1);  // + a host's state.tgz
  for (const ImageModule& module : image.modules)
    cfg.modules.push_back({module.name, module.options});
  cfg.build = image.build;
  cfg.loader_options = image.loader_options;
  cfg.unknown = image.unknown_keys;
  return cfg;
}

absl::Status ValidateModuleName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxModuleNameBytes && name != "." && name != ".." &&
            name.find(kModuleSeparator) == std::string_view::npos;
  for (char c : name) {
    ok = ok && c != '/' && c != '\\' && c != '\0' &&
         !absl::ascii_isspace(static_cast<unsigned char>(c));
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "module name \"" + std::string(name.substr(0, 300)) +
      "\": use 1-255 bytes without white space, '/', '\\' or \"---\"");
}

absl::Status ValidateImage(const ImageManifest& image) {
  RETURN_IF_ERROR(ValidateImageRefPart("name", image.ref.name));
  RETURN_IF_ERROR(ValidateImageRefPart("version", image.ref.version));
  if (image.kernel.name.empty()) return absl::InvalidArgumentError("image has no kernel");
  if (image.modules.size() > kMaxModules) {
    return absl::InvalidArgumentError(
        absl::StrCat("image has ", image.modules.size(), " modules, more than ", kMaxModules));
  }
  std::set<std::string> seen;
  RETURN_IF_ERROR(ValidateModule(image.kernel, seen));
  for (const ImageModule& module : image.modules) RETURN_IF_ERROR(ValidateModule(module, seen));
  if (image.loaders.size() > kMaxModules) {
    return absl::InvalidArgumentError(
        absl::StrCat("image has ", image.loaders.size(), " loaders, more than ", kMaxModules));
  }
  for (const ImageModule& loader : image.loaders) {
    RETURN_IF_ERROR(ValidateModule(loader, seen));
    // Nothing passes options to a loader file; the layer has nowhere to keep them.
    if (!loader.options.empty()) {
      return absl::InvalidArgumentError("loader " + loader.name + " may not have options");
    }
  }
  return absl::OkStatus();
}

EncodedImage EncodeImage(const ImageManifest& image) {
  json boot = {{"title", image.title},
               {"kernelopt", image.kernelopt},
               {"build", image.build},
               {"loader_options", PairsJson(image.loader_options)},
               {"unknown_keys", PairsJson(image.unknown_keys)}};
  if (image.timeout) boot["timeout"] = *image.timeout;
  json config = {{"name", image.ref.name},
                 {"version", image.ref.version},
                 {"kind", ImageKindName(image.kind)},
                 {"created", image.created},
                 {"boot", std::move(boot)}};
  if (image.parent) {
    config["parent"] = {{"ref", image.parent->ref.ToString()},
                        {"digest", image.parent->digest.ToString()}};
  }
  EncodedImage out;
  out.config = config.dump();

  OciManifest manifest;
  manifest.config = {
      std::string(kConfigMediaType), BlobDigest::Of(out.config), out.config.size(), {}};
  manifest.layers.push_back(LayerOf(image.kernel, kKernelMediaType));
  for (const ImageModule& module : image.modules) {
    manifest.layers.push_back(LayerOf(module, kModuleMediaType));
  }
  for (const ImageModule& loader : image.loaders) {
    manifest.layers.push_back(LayerOf(loader, kLoaderMediaType));
  }
  manifest.annotations[std::string(kCreatedAnnotation)] = image.created;
  out.manifest = RenderOciManifest(manifest);
  return out;
}

absl::StatusOr<ImageManifest> DecodeImage(const OciManifest& manifest, std::string_view text) {
  if (manifest.config.media_type != kConfigMediaType) {
    return FieldError("config.mediaType", kConfigMediaType);
  }
  if (manifest.layers.empty()) return FieldError("layers", "the kernel first");
  ASSIGN_OR_RETURN(const json config, json_fields::ParseObject(text, "image config"));
  ImageManifest image;
  ASSIGN_OR_RETURN(image.ref.name, RequiredString(config, "name", ""));
  ASSIGN_OR_RETURN(image.ref.version, RequiredString(config, "version", ""));
  ASSIGN_OR_RETURN(const std::string kind, RequiredString(config, "kind", ""));
  ASSIGN_OR_RETURN(image.kind, ParseImageKind(kind));
  ASSIGN_OR_RETURN(image.created, RequiredString(config, "created", ""));
  if (const auto parent = config.find("parent"); parent != config.end() && !parent->is_null()) {
    if (!parent->is_object()) return FieldError("parent", "an object");
    ASSIGN_OR_RETURN(const std::string ref, RequiredString(*parent, "ref", "parent."));
    ASSIGN_OR_RETURN(const std::string digest, RequiredString(*parent, "digest", "parent."));
    ASSIGN_OR_RETURN(ImageRef parent_ref, ParseImageRef(ref));
    ASSIGN_OR_RETURN(BlobDigest parent_digest, BlobDigest::Parse(digest));
    image.parent = ParentImage{std::move(parent_ref), std::move(parent_digest)};
  }
  const auto boot = config.find("boot");
  if (boot == config.end() || !boot->is_object()) return FieldError("boot", "an object");
  ASSIGN_OR_RETURN(auto title, OptionalString(*boot, "title", "boot."));
  ASSIGN_OR_RETURN(auto kernelopt, OptionalString(*boot, "kernelopt", "boot."));
  ASSIGN_OR_RETURN(auto build, OptionalString(*boot, "build", "boot."));
  image.title = title.value_or("");
  image.kernelopt = kernelopt.value_or("");
  image.build = build.value_or("");
  if (const auto timeout = boot->find("timeout"); timeout != boot->end() && !timeout->is_null()) {
    if (!timeout->is_number_unsigned() || timeout->get<uint64_t>() > INT32_MAX) {
      return FieldError("boot.timeout", "an integer 0-2147483647");
    }
    image.timeout = static_cast<int>(timeout->get<uint64_t>());
  }
  ASSIGN_OR_RETURN(image.loader_options, ParsePairs(*boot, "loader_options"));
  ASSIGN_OR_RETURN(image.unknown_keys, ParsePairs(*boot, "unknown_keys"));

  ASSIGN_OR_RETURN(image.kernel, ModuleOf(manifest.layers[0], 0, kKernelMediaType));
  // Modules, then loaders: a module after a loader is refused, so that each
  // layout has one encoding and SameContent matches the bytes.
  size_t i = 1;
  for (; i < manifest.layers.size() && manifest.layers[i].media_type != kLoaderMediaType; ++i) {
    ASSIGN_OR_RETURN(ImageModule module, ModuleOf(manifest.layers[i], i, kModuleMediaType));
    image.modules.push_back(std::move(module));
  }
  for (; i < manifest.layers.size(); ++i) {
    ASSIGN_OR_RETURN(ImageModule loader, ModuleOf(manifest.layers[i], i, kLoaderMediaType));
    image.loaders.push_back(std::move(loader));
  }
  RETURN_IF_ERROR(ValidateImage(image));
  return image;
}

}  // namespace midwife::imagebuilder
