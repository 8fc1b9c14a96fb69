#include "core/tar_entry_rules.h"

#include <archive_entry.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife {
namespace {

constexpr size_t kMaxQuotedBytes = 200;

// Debian's Abseil has its own string_view, distinct from std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Walks the components of a '/'-separated path, skipping empty ones and ".",
// which mean nothing to a file system ("a//./b" is "a/b").
class Components {
 public:
  explicit Components(std::string_view path) : rest_(path) {}
  bool Next(std::string_view* component) {
    while (!rest_.empty()) {
      size_t slash = rest_.find('/');
      std::string_view c = rest_.substr(0, slash);
      rest_ = slash == std::string_view::npos ? std::string_view() : rest_.substr(slash + 1);
      if (!c.empty() && c != ".") {
        *component = c;
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view rest_;
};

absl::Status Invalid(absl::string_view reason) { return absl::InvalidArgumentError(reason); }

// Shared by entry names and hard link targets: both name a place in the tree.
absl::StatusOr<std::string> NormalizeRelative(absl::string_view what, std::string_view path) {
  if (path.empty()) return Invalid(absl::StrCat(what, " is empty"));
  if (path.size() > kMaxTarPathBytes) {
    return Invalid(absl::StrCat(what, " is longer than ", kMaxTarPathBytes, " bytes"));
  }
  if (path.front() == '/') return Invalid(absl::StrCat(what, " is absolute"));
  std::string out;
  out.reserve(path.size());
  Components components(path);
  std::string_view c;
  while (components.Next(&c)) {
    if (c == "..") return Invalid(absl::StrCat(what, " has a \"..\" component"));
    if (!out.empty()) out += '/';
    out.append(c);
  }
  return out;
}

}  // namespace

std::string QuoteTarName(std::string_view name) {
  if (name.size() <= kMaxQuotedBytes) return absl::StrCat("\"", absl::CHexEscape(Absl(name)), "\"");
  return absl::StrCat("\"", absl::CHexEscape(Absl(name.substr(0, kMaxQuotedBytes))), "\"...");
}

absl::StatusOr<std::string> NormalizeTarPath(std::string_view name) {
  return NormalizeRelative("path", name);
}

absl::StatusOr<std::string> NormalizeHardlinkTarget(std::string_view target) {
  return NormalizeRelative(absl::StrCat("hard link target ", QuoteTarName(target)), target);
}

absl::Status CheckSymlinkTarget(std::string_view link_path, std::string_view target) {
  if (link_path.empty()) return Invalid("the root folder cannot be a symlink");
  const std::string what = absl::StrCat("symlink target ", QuoteTarName(target));
  if (target.empty()) return Invalid("symlink target is empty");
  if (target.size() > kMaxTarPathBytes) {
    return Invalid(absl::StrCat(what, " is longer than ", kMaxTarPathBytes, " bytes"));
  }
  if (target.front() == '/') return Invalid(absl::StrCat(what, " is absolute"));
  // Depth of the link's folder below the root; a normalized path has no
  // empty or "." components, so each '/' is one level.
  size_t depth = 0;
  for (char ch : link_path) depth += ch == '/';
  Components components(target);
  std::string_view c;
  while (components.Next(&c)) {
    if (c != "..") {
      ++depth;
    } else if (depth-- == 0) {
      return Invalid(absl::StrCat(what, " escapes the tree"));
    }
  }
  return absl::OkStatus();
}

std::string_view EntryTypeProblem(unsigned type) {
  switch (type) {
    case AE_IFREG:
    case AE_IFDIR:
    case AE_IFLNK:
      return {};
    case AE_IFCHR:
      return "is a character device; only files, folders and links are accepted";
    case AE_IFBLK:
      return "is a block device; only files, folders and links are accepted";
    case AE_IFIFO:
      return "is a FIFO; only files, folders and links are accepted";
    case AE_IFSOCK:
      return "is a socket; only files, folders and links are accepted";
    default:
      return "has an unknown file type; only files, folders and links are accepted";
  }
}

bool IsInFolder(std::string_view path, std::string_view folder) {
  return path.size() >= folder.size() && path.substr(0, folder.size()) == folder &&
         (path.size() == folder.size() || path[folder.size()] == '/');
}

SymlinkTree::SymlinkTree() { nodes_.emplace_back(); }

int SymlinkTree::Child(int node, std::string_view name, bool create) {
  auto& children = nodes_[node].children;
  if (auto it = children.find(name); it != children.end()) return it->second;
  if (!create) return -1;
  const int id = static_cast<int>(nodes_.size());
  nodes_[node].children.emplace(std::string(name), id);
  nodes_.emplace_back().parent = node;
  return id;
}

absl::Status SymlinkTree::Add(std::string_view name, std::string_view path,
                              const std::string* symlink_target) {
  // Only symlinks need nodes: an entry that meets no node on its way passes
  // through no symlink. Archives without symlinks cost nothing here.
  if (links_.empty() && symlink_target == nullptr) return absl::OkStatus();
  int node = 0;
  Components components(path);
  std::string_view c;
  while (components.Next(&c)) {
    if (nodes_[node].link >= 0) {
      return Invalid(absl::StrCat("path goes through the symlink ",
                                  QuoteTarName(links_[nodes_[node].link].name)));
    }
    node = Child(node, c, /*create=*/symlink_target != nullptr);
    if (node < 0) return absl::OkStatus();
  }
  if (symlink_target == nullptr) return absl::OkStatus();
  if (node == 0) return Invalid("the root folder cannot be a symlink");
  if (nodes_[node].link >= 0) {
    // The same name again: extraction replaces the earlier link.
    links_[nodes_[node].link].target = *symlink_target;
    return absl::OkStatus();
  }
  nodes_[node].link = static_cast<int>(links_.size());
  links_.push_back(Link{node, std::string(name), *symlink_target});
  return absl::OkStatus();
}

absl::StatusOr<int> SymlinkTree::Walk(int from, std::string_view path, int hops) {
  if (!path.empty() && path.front() == '/') return Invalid("an absolute symlink is on the way");
  int node = from;
  Components components(path);
  std::string_view c;
  while (components.Next(&c)) {
    if (c == "..") {
      if (node == 0) return Invalid("leads out of the tree");
      node = nodes_[node].parent;
      continue;
    }
    node = Child(node, c, /*create=*/true);
    if (nodes_[node].link >= 0) {
      ASSIGN_OR_RETURN(node, Resolve(nodes_[node].link, hops + 1));
    }
  }
  return node;
}

// Memoized: each link is walked once, so the total work stays linear.
absl::StatusOr<int> SymlinkTree::Resolve(int link, int hops) {
  switch (links_[link].state) {
    case State::kResolved:
      return links_[link].resolved;
    case State::kResolving:
      return Invalid("is part of a symlink loop");
    case State::kUnresolved:
      break;
  }
  if (hops > kMaxSymlinkHops) {
    return Invalid(absl::StrCat("follows more than ", kMaxSymlinkHops, " symlinks"));
  }
  links_[link].state = State::kResolving;
  ASSIGN_OR_RETURN(int node, Walk(nodes_[links_[link].node].parent, links_[link].target, hops));
  links_[link].state = State::kResolved;
  links_[link].resolved = node;
  return node;
}

absl::Status SymlinkTree::CheckAllInside(std::string* offending_name) {
  for (size_t i = 0; i < links_.size(); ++i) {
    auto resolved = Resolve(static_cast<int>(i), 0);
    if (!resolved.ok()) {
      *offending_name = links_[i].name;
      return Invalid(absl::StrCat("symlink target ", QuoteTarName(links_[i].target), " ",
                                  resolved.status().message(), " (following other symlinks)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace midwife
