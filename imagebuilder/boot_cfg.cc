#include "imagebuilder/boot_cfg.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::imagebuilder {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();

// The values the loader acts on as documented; the loader reads them with
// atoi() into a C int, so nothing wider is meaningful.
struct IntRule {
  int64_t min;
  int64_t max;
  std::string_view description;  // completes "<key> must be ..."
  bool zero_means_default = false;
};

constexpr IntRule kBootstateRule{0, kMaxBootstate, "0-4"};
constexpr IntRule kCountRule{0, kInt32Max, "0-2147483647"};
constexpr IntRule kFlagRule{0, 1, "0 or 1"};
// UEFI's minimum and RFC 2348's maximum block size; 0 keeps mboot's default.
constexpr IntRule kTftpBlockSizeRule{512, 65464, "0 or 512-65464", true};
// mboot documents a negative errtimeout as "hang on error", so any int goes.
constexpr IntRule kAnyIntRule{kInt32Min, kInt32Max, "an integer"};

struct LoaderOptionSpec {
  std::string_view key;
  const IntRule* rule;  // nullptr: a string option
};

constexpr LoaderOptionSpec kLoaderOptionSpecs[] = {
    {"nobootif", &kFlagRule},
    {"noquirks", &kFlagRule},
    {"norts", &kFlagRule},
    {"crypto", nullptr},
    {"runtimewd", &kFlagRule},
    {"runtimewdtimeout", &kCountRule},
    {"tftpblksize", &kTftpBlockSizeRule},
    {"acpitables", nullptr},
    {"skip", &kFlagRule},
    {"errtimeout", &kAnyIntRule},
    {"nativehttp", &kCountRule},
    {"quickboot", &kCountRule},
};

constexpr bool SpecsFollowKeyOrder() {
  if (std::size(kLoaderOptionSpecs) != kLoaderOptionKeys.size()) return false;
  for (size_t i = 0; i < kLoaderOptionKeys.size(); ++i) {
    if (kLoaderOptionSpecs[i].key != kLoaderOptionKeys[i]) return false;
  }
  return true;
}
static_assert(SpecsFollowKeyOrder(), "kLoaderOptionSpecs is indexed like kLoaderOptionKeys");

// The keys in the order each loader tries them: a line's key matches the
// first known key it is a prefix of (mboot's option table, then safeboot's;
// nativehttp is newer than the mboot source we read, so its place is a guess).
constexpr std::string_view kLoaderMatchOrder[] = {
    "kernel",     "kernelopt",        "modules",  "title",      "prefix",     "nobootif",
    "timeout",    "noquirks",         "norts",    "crypto",     "runtimewd",  "tftpblksize",
    "acpitables", "runtimewdtimeout", "skip",     "errtimeout", "nativehttp", "build",
    "updated",    "bootstate",        "quickboot"};

size_t LoaderOptionIndex(std::string_view key) {
  for (size_t i = 0; i < kLoaderOptionKeys.size(); ++i) {
    if (EqualsIgnoreCase(kLoaderOptionKeys[i], key)) return i;
  }
  return kLoaderOptionKeys.size();
}

// (Debian's Abseil has its own string_view: std::string_view goes in as std::string.)
absl::Status LineError(int line, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("boot.cfg line ", line, ": ", message));
}

std::string Quoted(std::string_view text) {
  return "\"" + absl::CHexEscape(std::string(text)) + "\"";
}

absl::StatusOr<int64_t> ParseInteger(std::string_view key, std::string_view value,
                                     const IntRule& rule, int line) {
  if (value.empty()) return 0;  // the loader reads an empty value as 0
  const std::string_view digits = value.starts_with('-') ? value.substr(1) : value;
  const bool is_number =
      !digits.empty() && std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
  int64_t number = 0;
  if (is_number && absl::SimpleAtoi(std::string(value), &number) &&
      ((number >= rule.min && number <= rule.max) || (rule.zero_means_default && number == 0))) {
    return number;
  }
  return LineError(line, std::string(key) + " must be " + std::string(rule.description) + ", got " +
                             (is_number ? std::string(value) : Quoted(value)));
}

// mboot takes "kern=" for "kernel=": keeping such a key as unknown would make
// the rendered file boot differently from the struct that describes it.
absl::Status CheckNotAbbreviation(std::string_view lower_key, int line) {
  for (std::string_view known : kLoaderMatchOrder) {
    if (known.starts_with(lower_key)) {
      return LineError(line, "key " + Quoted(lower_key) + " would be read by the loader as \"" +
                                 std::string(known) + "\"");
    }
  }
  return absl::OkStatus();
}

void SetOption(std::vector<std::pair<std::string, std::string>>& options, std::string_view key,
               std::string_view value) {
  for (auto& [existing_key, existing_value] : options) {
    if (EqualsIgnoreCase(existing_key, key)) {
      existing_value = std::string(value);
      return;
    }
  }
  options.emplace_back(std::string(key), std::string(value));
}

absl::Status ApplyLine(BootCfg& cfg, std::string_view key, std::string_view value, int line) {
  const std::string name = absl::AsciiStrToLower(std::string(key));
  if (name == "bootstate") {
    ASSIGN_OR_RETURN(const int64_t state, ParseInteger(name, value, kBootstateRule, line));
    cfg.bootstate = static_cast<int>(state);
  } else if (name == "title") {
    cfg.title = std::string(value);
  } else if (name == "timeout") {
    ASSIGN_OR_RETURN(const int64_t seconds, ParseInteger(name, value, kCountRule, line));
    cfg.timeout = static_cast<int>(seconds);
  } else if (name == "prefix") {
    cfg.prefix = std::string(value);
  } else if (name == "kernel") {
    const size_t space = value.find(' ');
    cfg.kernel = std::string(value.substr(0, space));
    cfg.kernel_options =
        space == std::string_view::npos ? "" : std::string(value.substr(space + 1));
  } else if (name == "kernelopt") {
    cfg.kernelopt = std::string(value);
  } else if (name == "modules") {
    cfg.modules = ParseModuleList(value);
  } else if (name == "build") {
    cfg.build = std::string(value);
  } else if (name == "updated") {
    ASSIGN_OR_RETURN(cfg.updated, ParseInteger(name, value, kCountRule, line));
  } else if (const size_t index = LoaderOptionIndex(name); index < kLoaderOptionKeys.size()) {
    const LoaderOptionSpec& spec = kLoaderOptionSpecs[index];
    std::string stored(value);
    if (spec.rule != nullptr) {
      ASSIGN_OR_RETURN(const int64_t number, ParseInteger(name, value, *spec.rule, line));
      stored = absl::StrCat(number);
    }
    SetOption(cfg.loader_options, spec.key, stored);
  } else {
    RETURN_IF_ERROR(CheckNotAbbreviation(name, line));
    SetOption(cfg.unknown, key, value);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BootCfg> ParseBootCfg(std::string_view text) {
  if (text.size() > kMaxBootCfgBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "boot.cfg is ", text.size(), " bytes, more than the limit of ", kMaxBootCfgBytes));
  }
  BootCfg cfg;
  int line_number = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string line = FoldWhiteSpace(text.substr(start, end - start));
    start = end + 1;
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const size_t equals = line.find('=');
    if (equals == std::string::npos) {
      return LineError(line_number, absl::StrCat("expected key=value, got ", Quoted(line)));
    }
    // Folding left at most one space on each side of the '='.
    std::string_view key = std::string_view(line).substr(0, equals);
    if (key.ends_with(' ')) key.remove_suffix(1);
    std::string_view value = std::string_view(line).substr(equals + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (key.empty()) return LineError(line_number, "no key before '='");
    RETURN_IF_ERROR(ApplyLine(cfg, key, value, line_number));
  }
  std::stable_sort(cfg.loader_options.begin(), cfg.loader_options.end(),
                   [](const auto& a, const auto& b) {
                     return LoaderOptionIndex(a.first) < LoaderOptionIndex(b.first);
                   });
  return cfg;
}

std::string RenderBootCfg(const BootCfg& cfg) {
  std::string out;
  // The module list is most of a boot.cfg; the rest is a few short lines.
  out.reserve(512 + cfg.kernelopt.size() + cfg.prefix.size() + ModuleListBytes(cfg.modules));
  const auto emit = [&out](std::string_view key, std::string_view value) {
    out.append(key).append("=");
    AppendFoldedWhiteSpace(out, value);
    out.append("\n");
  };
  const auto emit_if_set = [&emit](std::string_view key, const std::string& value) {
    if (!value.empty()) emit(key, value);
  };
  if (cfg.bootstate) emit("bootstate", absl::StrCat(*cfg.bootstate));
  emit_if_set("title", cfg.title);
  if (cfg.timeout) emit("timeout", absl::StrCat(*cfg.timeout));
  emit_if_set("prefix", cfg.prefix);
  if (!cfg.kernel.empty()) {
    emit("kernel", cfg.kernel_options.empty() ? cfg.kernel
                                              : absl::StrCat(cfg.kernel, " ", cfg.kernel_options));
  }
  emit_if_set("kernelopt", cfg.kernelopt);
  if (!cfg.modules.empty()) {
    // Written in place, then folded only if it needs it: a parsed or
    // validated module list is folded already.
    out.append("modules=");
    const size_t list_start = out.size();
    AppendModuleList(out, cfg.modules);
    const std::string_view list = std::string_view(out).substr(list_start);
    if (!IsFoldedWhiteSpace(list)) out.replace(list_start, std::string::npos, FoldWhiteSpace(list));
    out.append("\n");
  }
  emit_if_set("build", cfg.build);
  if (cfg.updated) emit("updated", absl::StrCat(*cfg.updated));
  // Sorted here as well so that a hand-built struct renders canonically.
  for (std::string_view key : kLoaderOptionKeys) {
    for (const auto& [option_key, value] : cfg.loader_options) {
      if (EqualsIgnoreCase(option_key, key)) emit(key, value);
    }
  }
  for (const auto& [key, value] : cfg.loader_options) {
    if (LoaderOptionIndex(key) == kLoaderOptionKeys.size()) emit(key, value);
  }
  for (const auto& [key, value] : cfg.unknown) emit(key, value);
  return out;
}

std::string ResolveModulePath(const BootCfg& cfg, std::string_view path,
                              std::string_view bootcfg_dir) {
  return ResolveBootPath(cfg.prefix, path, bootcfg_dir);
}

std::optional<std::string> FindLoaderOption(const BootCfg& cfg, std::string_view key) {
  std::optional<std::string> found;
  for (const auto& [option_key, value] : cfg.loader_options) {
    if (EqualsIgnoreCase(option_key, key)) found = value;
  }
  return found;
}

}  // namespace midwife::imagebuilder
