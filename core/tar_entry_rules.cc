#include "core/tar_entry_rules.h"

namespace midwife {
namespace {

// Calls f(component) for each '/'-separated component, skipping empty ones
// and "." (which mean nothing to a file system); stops when f returns false.
template <typename F>
void ForEachComponent(std::string_view path, F&& f) {
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view c = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (c.empty() || c == ".") continue;
    if (!f(c)) return;
  }
}

}  // namespace

std::string_view StripDotSlash(std::string_view name) {
  while (name.starts_with("./")) {
    name.remove_prefix(2);
    while (name.starts_with("/")) name.remove_prefix(1);
  }
  if (name == ".") return {};
  return name;
}

std::optional<std::string> BadMemberName(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.front() == '/') return "absolute path";
  bool dotdot = false;
  ForEachComponent(name, [&](std::string_view c) {
    dotdot = c == "..";
    return !dotdot;
  });
  if (dotdot) return "path has a \"..\" component";
  return std::nullopt;
}

std::optional<std::string> BadSymlinkTarget(std::string_view name, std::string_view target) {
  if (target.empty()) return "empty symlink target";
  if (target.front() == '/') return "symlink target is absolute";
  // Depth of the link's folder below the root of the tree.
  long depth = 0;
  ForEachComponent(name, [&](std::string_view) {
    ++depth;
    return true;
  });
  --depth;  // The link itself is not a folder on the way.
  bool escapes = depth < 0;
  ForEachComponent(target, [&](std::string_view c) {
    depth += c == ".." ? -1 : 1;
    escapes = depth < 0;
    return !escapes;
  });
  if (escapes) return "symlink target escapes the tree";
  return std::nullopt;
}

}  // namespace midwife
