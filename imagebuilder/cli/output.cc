#include "imagebuilder/cli/output.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace midwife::imagebuilder::cli {
namespace {

using nlohmann::json;

json ModuleJson(const ImageModule& module) {
  return {{"name", module.name},
          {"digest", module.digest.ToString()},
          {"size", module.size},
          {"options", module.options}};
}

json PairsJson(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json out = json::array();
  for (const auto& [key, value] : pairs) out.push_back({{"key", key}, {"value", value}});
  return out;
}

std::string ModuleLine(const std::string& index, const ImageModule& module) {
  return absl::StrFormat("  %4s  %-16s %s  %10s%s\n", index, module.name, module.digest.Short(),
                         HumanBytes(module.size),
                         module.options.empty() ? "" : "  " + module.options);
}

// Lays out rows in columns as wide as their widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

json ImageJson(const ImageManifest& image, const BlobDigest& digest) {
  json modules = json::array();
  for (const ImageModule& module : image.modules) modules.push_back(ModuleJson(module));
  json loaders = json::array();
  for (const ImageModule& loader : image.loaders) loaders.push_back(ModuleJson(loader));
  json out = {{"ref", image.ref.ToString()},
              {"name", image.ref.name},
              {"version", image.ref.version},
              {"digest", digest.ToString()},
              {"kind", ImageKindName(image.kind)},
              {"created", image.created},
              {"parent", nullptr},
              {"title", image.title},
              {"kernelopt", image.kernelopt},
              {"build", image.build},
              {"timeout", nullptr},
              {"kernel", ModuleJson(image.kernel)},
              {"modules", std::move(modules)},
              {"loaders", std::move(loaders)},
              {"loader_options", PairsJson(image.loader_options)},
              {"unknown_keys", PairsJson(image.unknown_keys)},
              {"total_bytes", TotalBytes(image)}};
  if (image.timeout) out["timeout"] = *image.timeout;
  if (image.parent) {
    out["parent"] = {{"ref", image.parent->ref.ToString()},
                     {"digest", image.parent->digest.ToString()}};
  }
  return out;
}

std::string ImageText(const ImageManifest& image, const BlobDigest& digest) {
  std::string out = absl::StrCat(image.ref.ToString(), "  ", digest.ToString(), "\n");
  const auto field = [&out](const char* key, const std::string& value) {
    if (!value.empty()) absl::StrAppend(&out, absl::StrFormat("%-10s %s\n", key, value));
  };
  field("kind:", std::string(ImageKindName(image.kind)));
  field("created:", image.created);
  if (image.parent) {
    field("parent:",
          absl::StrCat(image.parent->ref.ToString(), " (", image.parent->digest.Short(), ")"));
  }
  field("title:", image.title);
  field("build:", image.build);
  field("kernelopt:", image.kernelopt);
  if (image.timeout) field("timeout:", absl::StrCat(*image.timeout));
  for (const auto& [key, value] : image.loader_options) field((key + ":").c_str(), value);
  for (const auto& [key, value] : image.unknown_keys) field((key + ":").c_str(), value);
  const std::string loaders =
      image.loaders.empty() ? "" : absl::StrCat(" and ", image.loaders.size(), " loaders");
  absl::StrAppend(&out, absl::StrFormat("%-10s %d modules and the kernel%s, %s\n", "size:",
                                        image.modules.size(), loaders,
                                        HumanBytes(TotalBytes(image))));
  out += ModuleLine("kernel", image.kernel);
  for (size_t i = 0; i < image.modules.size(); ++i)
    out += ModuleLine(absl::StrCat(i), image.modules[i]);
  // Loaders are not in boot.cfg's order: labelled, not numbered.
  for (const ImageModule& loader : image.loaders) out += ModuleLine("loader", loader);
  return out;
}

json WriteResultJson(const WriteResult& result) {
  return {{"ref", result.image.ref.ToString()},
          {"digest", result.digest.ToString()},
          {"created", result.created},
          {"blobs_written", result.blobs_written},
          {"bytes_written", result.bytes_written},
          {"image", ImageJson(result.image, result.digest)}};
}

std::string WriteResultText(const WriteResult& result, const std::string& verb) {
  if (!result.created) {
    return absl::StrCat(result.image.ref.ToString(),
                        " is already in the repository with the same content; nothing written\n");
  }
  return absl::StrCat(verb, " ", result.image.ref.ToString(), ": ", result.image.modules.size() + 1,
                      " files, ", HumanBytes(TotalBytes(result.image)), " (", result.blobs_written,
                      " new blobs, ", HumanBytes(result.bytes_written), " written)\nmanifest ",
                      result.digest.ToString(), "\n");
}

json ListJson(const std::vector<ListedImage>& images) {
  json out = json::array();
  for (const ListedImage& listed : images) {
    json row = {{"ref", listed.entry.ref.ToString()},
                {"name", listed.entry.ref.name},
                {"version", listed.entry.ref.version},
                {"digest", listed.entry.digest.ToString()}};
    if (listed.image) {
      row["kind"] = ImageKindName(listed.image->kind);
      row["created"] = listed.image->created;
      row["modules"] = listed.image->modules.size();
      row["total_bytes"] = TotalBytes(*listed.image);
      row["parent"] =
          listed.image->parent ? json(listed.image->parent->ref.ToString()) : json(nullptr);
    } else {
      row["error"] = listed.error;
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::string ListText(const std::vector<ListedImage>& images) {
  if (images.empty()) return "no images; add one with `imagebuilder import`\n";
  std::vector<std::vector<std::string>> rows = {
      {"IMAGE", "KIND", "MODULES", "SIZE", "CREATED", "PARENT", "DIGEST"}};
  for (const ListedImage& listed : images) {
    if (!listed.image) {
      rows.push_back({listed.entry.ref.ToString(), "?", "?", "?", "?", "?",
                      listed.entry.digest.Short() + "  unreadable: " + listed.error});
      continue;
    }
    const ImageManifest& image = *listed.image;
    rows.push_back({image.ref.ToString(), std::string(ImageKindName(image.kind)),
                    absl::StrCat(image.modules.size()), HumanBytes(TotalBytes(image)),
                    image.created, image.parent ? image.parent->ref.ToString() : "-",
                    listed.entry.digest.Short()});
  }
  return Table(rows);
}

json DiffJson(const ImageManifest& from, const ImageManifest& to, const ImageDiff& diff) {
  json added = json::array(), removed = json::array(), changed = json::array(),
       settings = json::array();
  for (const ImageModule& m : diff.added) added.push_back(ModuleJson(m));
  for (const ImageModule& m : diff.removed) removed.push_back(ModuleJson(m));
  for (const ModuleChange& c : diff.changed) {
    changed.push_back(
        {{"name", c.to.name}, {"from", ModuleJson(c.from)}, {"to", ModuleJson(c.to)}});
  }
  for (const SettingChange& s : diff.settings) {
    settings.push_back({{"key", s.key}, {"from", s.from}, {"to", s.to}});
  }
  return {{"from", from.ref.ToString()},   {"to", to.ref.ToString()},
          {"identical", diff.empty()},     {"added", std::move(added)},
          {"removed", std::move(removed)}, {"changed", std::move(changed)},
          {"reordered", diff.reordered},   {"settings", std::move(settings)}};
}

std::string DiffText(const ImageManifest& from, const ImageManifest& to, const ImageDiff& diff) {
  std::string out = absl::StrCat("--- ", from.ref.ToString(), "\n+++ ", to.ref.ToString(), "\n");
  if (diff.empty()) return out + "identical boot content\n";
  for (const ImageModule& m : diff.added) {
    absl::StrAppend(&out, "+ ", m.name, "  ", m.digest.Short(), "  ", HumanBytes(m.size), "\n");
  }
  for (const ImageModule& m : diff.removed) {
    absl::StrAppend(&out, "- ", m.name, "  ", m.digest.Short(), "  ", HumanBytes(m.size), "\n");
  }
  for (const ModuleChange& c : diff.changed) {
    absl::StrAppend(&out, "~ ", c.to.name, "  ", c.from.digest.Short(), " -> ",
                    c.to.digest.Short());
    if (c.from.options != c.to.options) {
      absl::StrAppend(&out, "  options \"", c.from.options, "\" -> \"", c.to.options, "\"");
    }
    out += "\n";
  }
  if (diff.reordered) out += "~ module order changed\n";
  for (const SettingChange& s : diff.settings) {
    absl::StrAppend(&out, "~ ", s.key, ": \"", s.from, "\" -> \"", s.to, "\"\n");
  }
  return out;
}

json VerifyJson(const VerifyReport& report) {
  json problems = json::array();
  for (const BlobProblem& p : report.problems) {
    problems.push_back(
        {{"digest", p.digest.ToString()}, {"problem", p.problem}, {"used_by", p.used_by}});
  }
  return {{"ok", report.ok()},
          {"blobs_checked", report.blobs_checked},
          {"bytes_checked", report.bytes_checked},
          {"problems", std::move(problems)}};
}

std::string VerifyText(const VerifyReport& report) {
  std::string out;
  for (const BlobProblem& p : report.problems) {
    absl::StrAppend(&out, p.digest.ToString(), ": ", p.problem, "\n");
    for (const std::string& user : p.used_by) absl::StrAppend(&out, "  used by ", user, "\n");
    if (p.used_by.empty()) out += "  used by no image\n";
  }
  absl::StrAppend(&out, report.blobs_checked, " blobs (", HumanBytes(report.bytes_checked),
                  ") checked, ", report.problems.size(), " problem(s)\n");
  return out;
}

json GcJson(const GcReport& report, bool dry_run) {
  json blobs = json::array();
  for (const StoredBlob& b : report.removed_blobs) {
    blobs.push_back({{"digest", b.digest.ToString()}, {"size", b.size}});
  }
  return {{"dry_run", dry_run},
          {"removed_blobs", std::move(blobs)},
          {"removed_temporaries", report.removed_temporaries},
          {"removed_bytes", report.removed_bytes},
          {"kept_blobs", report.kept_blobs}};
}

std::string GcText(const GcReport& report, bool dry_run) {
  const char* verb = dry_run ? "would remove" : "removed";
  std::string out;
  for (const StoredBlob& b : report.removed_blobs) {
    absl::StrAppend(&out, verb, " ", b.digest.ToString(), "  ", HumanBytes(b.size), "\n");
  }
  for (const std::string& t : report.removed_temporaries) {
    absl::StrAppend(&out, verb, " leftover temporary ", t, "\n");
  }
  absl::StrAppend(&out, verb, " ", report.removed_blobs.size(), " blobs (",
                  HumanBytes(report.removed_bytes), ") and ", report.removed_temporaries.size(),
                  " temporaries; ", report.kept_blobs, " blobs in use\n");
  return out;
}

}  // namespace midwife::imagebuilder::cli
