#include "imagebuilder/boot_cfg_modules.h"

#include <cctype>

#include "absl/strings/str_join.h"

namespace midwife::imagebuilder {
namespace {

// The C locale's white space, without a libc call: folding runs on every
// rendered boot.cfg, once per host boot.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool IsSlash(char c) { return c == '/' || c == '\\'; }

// mboot's file_sanitize_path, minus its removal of white space (a path here
// never holds any): the loader opens the sanitized form, so that is the one
// callers must look up.
std::string SanitizePath(std::string_view path) {
  const size_t scheme = path.find("://");
  const size_t keep_until = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::string out;
  out.reserve(path.size());
  bool after_slash = false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (!IsSlash(path[i])) {
      out += path[i];
      after_slash = false;
    } else if (!after_slash || i < keep_until) {
      out += '/';
      after_slash = true;
    }
  }
  return out;
}

// The last path component without an ISO 9660 ";<version>" suffix.
std::string_view FileName(std::string_view path) {
  const size_t slash = path.find_last_of("/\\");
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  const size_t semicolon = path.rfind(';');
  if (semicolon != std::string_view::npos &&
      path.find_first_not_of("0123456789", semicolon + 1) == std::string_view::npos) {
    path.remove_suffix(path.size() - semicolon);
  }
  return path;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsFoldedWhiteSpace(std::string_view text) {
  bool folded = text.empty() || (text.front() != ' ' && text.back() != ' ');
  for (size_t i = 0; folded && i < text.size(); ++i) {
    folded = !IsSpace(text[i]) || (text[i] == ' ' && text[i - 1] != ' ');
  }
  return folded;
}

void AppendFoldedWhiteSpace(std::string& out, std::string_view text) {
  // Most values are folded already (they were folded when parsed).
  if (IsFoldedWhiteSpace(text)) {
    out.append(text);
    return;
  }
  const size_t start = out.size();
  bool pending_space = false;
  for (char c : text) {
    if (IsSpace(c)) {
      pending_space = out.size() > start;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
}

std::string FoldWhiteSpace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendFoldedWhiteSpace(out, text);
  return out;
}

std::vector<BootModule> ParseModuleList(std::string_view value) {
  const std::string folded = FoldWhiteSpace(value);
  std::string_view rest = folded;
  std::vector<BootModule> modules;
  while (true) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    if (rest.starts_with(kModuleSeparator)) {
      rest.remove_prefix(kModuleSeparator.size());
      continue;
    }
    std::string_view item = rest;
    const size_t separator = rest.find(kModuleSeparator);
    if (separator == std::string_view::npos) {
      rest = {};
    } else {
      item = rest.substr(0, separator);
      rest.remove_prefix(separator + kModuleSeparator.size());
    }
    const size_t space = item.find(' ');
    BootModule module;
    module.path = std::string(item.substr(0, space));
    if (space != std::string_view::npos) {
      std::string_view options = item.substr(space + 1);
      while (!options.empty() && options.back() == ' ') options.remove_suffix(1);
      module.options = std::string(options);
    }
    modules.push_back(std::move(module));
  }
  return modules;
}

size_t ModuleListBytes(const std::vector<BootModule>& modules) {
  size_t bytes = 0;
  for (const BootModule& module : modules) {
    // Its path, " " and its options, and " --- " before the next.
    bytes += module.path.size() + 1 + module.options.size() + kModuleSeparator.size() + 2;
  }
  return bytes;
}

std::string RenderModuleList(const std::vector<BootModule>& modules) {
  std::string out;
  out.reserve(ModuleListBytes(modules));
  AppendModuleList(out, modules);
  return out;
}

void AppendModuleList(std::string& out, const std::vector<BootModule>& modules) {
  for (size_t i = 0; i < modules.size(); ++i) {
    if (i > 0) out.append(" ").append(kModuleSeparator).append(" ");
    out.append(modules[i].path);
    if (!modules[i].options.empty()) out.append(" ").append(modules[i].options);
  }
}

bool IsAbsoluteBootPath(std::string_view path) {
  return (!path.empty() && IsSlash(path.front())) || path.find("://") != std::string_view::npos;
}

std::string ResolveBootPath(std::string_view prefix, std::string_view path,
                            std::string_view bootcfg_dir) {
  if (IsAbsoluteBootPath(path)) return SanitizePath(path);
  const std::string_view root = prefix.empty() ? bootcfg_dir : prefix;
  if (root.empty()) return SanitizePath(path);
  std::string joined(root);
  joined += '/';
  joined += path;
  return SanitizePath(joined);
}

std::string ModuleNameKey(std::string_view name) {
  std::string key(FileName(name));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

bool SameModuleName(std::string_view a, std::string_view b) {
  const std::string_view name_a = FileName(a);
  return !name_a.empty() && EqualsIgnoreCase(name_a, FileName(b));
}

}  // namespace midwife::imagebuilder
