#include "imagebuilder/import_plan.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {
namespace {

constexpr std::string_view kEsxiDescriptors[] = {"boot.cfg", "efi/boot/boot.cfg"};
constexpr std::string_view kLinuxDescriptors[] = {"linux.cfg", "boot.cfg", "efi/boot/boot.cfg"};

// '\' as '/', no leading '/', no empty or "." components: "/./EFI//BOOT/" -> "EFI/BOOT".
std::string CleanPath(std::string_view path) {
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(part);
    }
    start = end + 1;
  }
  return out;
}

std::pair<std::string_view, std::string_view> SplitFolder(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string_view FileName(std::string_view path) {
  const size_t slash = path.find_last_of("/\\");
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

const SourceEntry* FindEntry(const std::vector<SourceEntry>& entries, std::string_view path) {
  for (const SourceEntry& entry : entries) {
    if (SameSourcePath(entry.path, path)) return &entry;
  }
  return nullptr;
}

const SourceEntry* LocateModule(const std::vector<SourceEntry>& entries, const BootCfg& cfg,
                                std::string_view path, std::string_view descriptor_folder) {
  const std::string resolved =
      ResolveModulePath(cfg, path, absl::StrCat("/", std::string(descriptor_folder)));
  if (resolved.find("://") == std::string::npos) {
    if (const SourceEntry* entry = FindEntry(entries, CleanPath(resolved))) return entry;
  }
  const std::string_view name = FileName(path);
  if (!descriptor_folder.empty()) {
    const std::string beside = absl::StrCat(std::string(descriptor_folder), "/", std::string(name));
    if (const SourceEntry* entry = FindEntry(entries, beside)) return entry;
  }
  return FindEntry(entries, name);
}

// The boot loaders an esxi import looks for (import_plan.h): the name stored,
// and whether it may also sit beside boot.cfg or at the root.
struct LoaderFile {
  std::string_view name;
  bool anywhere;
};
constexpr LoaderFile kEsxiLoaders[] = {
    {"mboot.c32", true}, {"mboot.efi", true}, {"bootx64.efi", false}};

const SourceEntry* LocateLoader(const std::vector<SourceEntry>& entries, const LoaderFile& loader,
                                std::string_view descriptor_folder) {
  const std::string name(loader.name);
  if (loader.anywhere) {
    if (const SourceEntry* entry = FindEntry(entries, absl::StrCat(std::string(descriptor_folder),
                                                                   "/", name))) {
      return entry;
    }
    if (const SourceEntry* entry = FindEntry(entries, name)) return entry;
  }
  return FindEntry(entries, "efi/boot/" + name);
}

}  // namespace

bool IsDescriptorPath(std::string_view path) {
  for (std::string_view candidate : kLinuxDescriptors) {
    if (SameSourcePath(path, candidate)) return true;
  }
  return false;
}

bool SameSourcePath(std::string_view a, std::string_view b) {
  const std::string clean_a = CleanPath(a);
  const std::string clean_b = CleanPath(b);
  const auto [folder_a, name_a] = SplitFolder(clean_a);
  const auto [folder_b, name_b] = SplitFolder(clean_b);
  return !name_a.empty() && EqualsIgnoreCase(folder_a, folder_b) && SameModuleName(name_a, name_b);
}

absl::StatusOr<ImportPlan> PlanImport(ImageKind kind, std::string_view source_name,
                                      const std::vector<SourceEntry>& entries,
                                      const std::map<std::string, std::string>& descriptors) {
  const std::string source(source_name);
  ImportPlan plan;
  const std::string* text = nullptr;
  const std::vector<std::string> candidates =
      kind == ImageKind::kLinux
          ? std::vector<std::string>(std::begin(kLinuxDescriptors), std::end(kLinuxDescriptors))
          : std::vector<std::string>(std::begin(kEsxiDescriptors), std::end(kEsxiDescriptors));
  for (const std::string& candidate : candidates) {
    for (const auto& [path, contents] : descriptors) {
      if (text == nullptr && SameSourcePath(path, candidate)) {
        plan.descriptor_path = path;
        text = &contents;
      }
    }
  }
  if (text == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        source, ": no ", absl::StrJoin(candidates, " or "),
        kind == ImageKind::kEsxi
            ? " found; give an ESXi installer ISO or a folder or tarball of its files "
              "(for a Linux image add linux.cfg and pass --kind linux)"
            : " found; add a linux.cfg with kernel=, modules= (initrds) and kernelopt="));
  }
  absl::StatusOr<BootCfg> cfg = ParseBootCfg(*text);
  if (!cfg.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", plan.descriptor_path, ": ",
                                                   std::string(cfg.status().message())));
  }
  plan.cfg = *std::move(cfg);
  if (plan.cfg.kernel.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", plan.descriptor_path, " has no kernel= line"));
  }
  if (plan.cfg.modules.size() > kMaxModules) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", plan.descriptor_path, " names ",
                                                   plan.cfg.modules.size(), " modules, more than ",
                                                   kMaxModules));
  }

  const std::string descriptor = CleanPath(plan.descriptor_path);
  const std::string_view folder = SplitFolder(descriptor).first;
  std::vector<std::string> missing;
  std::set<std::string> seen_names;
  std::set<std::string> counted_paths;
  const auto plan_one = [&](std::string_view path,
                            const std::string& options) -> absl::StatusOr<PlannedModule> {
    PlannedModule planned{std::string(FileName(path)), options, "", 0};
    absl::Status valid = ValidateModuleName(planned.name);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", plan.descriptor_path, ": ", std::string(valid.message())));
    }
    if (!seen_names.insert(absl::AsciiStrToLower(planned.name)).second) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", plan.descriptor_path,
                                                     " names module ", planned.name, " twice"));
    }
    const SourceEntry* entry = LocateModule(entries, plan.cfg, path, folder);
    if (entry == nullptr) {
      missing.push_back(std::string(path));
      return planned;
    }
    planned.source_path = entry->link_target.empty() ? entry->path : entry->link_target;
    planned.size = entry->size;
    if (counted_paths.insert(planned.source_path).second) plan.total_bytes += entry->size;
    return planned;
  };
  ASSIGN_OR_RETURN(plan.kernel, plan_one(plan.cfg.kernel, plan.cfg.kernel_options));
  for (const BootModule& module : plan.cfg.modules) {
    ASSIGN_OR_RETURN(PlannedModule planned, plan_one(module.path, module.options));
    plan.modules.push_back(std::move(planned));
  }
  if (kind == ImageKind::kEsxi) {
    for (const LoaderFile& loader : kEsxiLoaders) {
      // One boot.cfg names as a module is stored as that module already.
      if (seen_names.count(std::string(loader.name)) != 0) continue;
      const SourceEntry* entry = LocateLoader(entries, loader, folder);
      if (entry == nullptr) continue;
      PlannedModule planned{std::string(loader.name), "",
                            entry->link_target.empty() ? entry->path : entry->link_target,
                            entry->size};
      if (counted_paths.insert(planned.source_path).second) plan.total_bytes += entry->size;
      plan.loaders.push_back(std::move(planned));
    }
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrCat(
        source, ": ", plan.descriptor_path, " names ", missing.size(),
        missing.size() == 1 ? " file that is" : " files that are", " not in the source: ",
        absl::StrJoin(missing, ", "), "; use the complete installer or add them"));
  }
  return plan;
}

ImageManifest MakeImportedImage(const ImportPlan& plan, const ImageRef& ref, ImageKind kind,
                                std::string created,
                                const std::map<std::string, StoredBlob>& stored) {
  const auto module_of = [&stored](const PlannedModule& planned) {
    const StoredBlob& blob = stored.at(planned.source_path);
    return ImageModule{planned.name, blob.digest, blob.size, planned.options};
  };
  ImageManifest image;
  image.ref = ref;
  image.kind = kind;
  image.created = std::move(created);
  image.title = plan.cfg.title;
  image.timeout = plan.cfg.timeout;
  image.kernelopt = plan.cfg.kernelopt;
  image.build = plan.cfg.build;
  image.kernel = module_of(plan.kernel);
  for (const PlannedModule& planned : plan.modules) image.modules.push_back(module_of(planned));
  for (const PlannedModule& planned : plan.loaders) image.loaders.push_back(module_of(planned));
  image.loader_options = plan.cfg.loader_options;
  image.unknown_keys = plan.cfg.unknown;
  return image;
}

}  // namespace midwife::imagebuilder
