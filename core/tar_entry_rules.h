#ifndef MIDWIFE_CORE_TAR_ENTRY_RULES_H_
#define MIDWIFE_CORE_TAR_ENTRY_RULES_H_

// Pure checks on the names and link targets of tar entries, used by
// ValidateStateArchive (core/state_archive.h) so that an archive can be
// extracted under a folder without writing anything outside it.
//
// Errors are INVALID_ARGUMENT carrying only the reason (e.g.
// `path has a ".." component`); the caller adds the layer and the entry name.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife {

// Longest entry name or link target accepted: Linux's PATH_MAX. pax headers
// allow far longer ones, which no extractor on the host could create anyway.
inline constexpr size_t kMaxTarPathBytes = 4096;

// Longest chain of symlinks followed when resolving one link target: Linux's
// limit before ELOOP.
inline constexpr int kMaxSymlinkHops = 40;

// The entry's path with leading "./", "." components and repeated or trailing
// slashes removed: "./etc//hosts/" -> "etc/hosts"; "." and "./" (the root
// folder, which `tar -C dir .` writes first) -> "".
// Refuses empty names, absolute paths, any ".." component and names longer
// than kMaxTarPathBytes.
absl::StatusOr<std::string> NormalizeTarPath(std::string_view name);

// Checks a symlink target lexically, relative to the folder of the link
// (`link_path` normalized): refuses empty or absolute targets and targets
// that climb above the root of the tree. Chains through other symlinks are
// SymlinkTree's job.
absl::Status CheckSymlinkTarget(std::string_view link_path, std::string_view target);

// A hard link target names another entry of the same archive, relative to
// its root: refuses empty and absolute targets and any ".." component.
// Returns the target normalized as by NormalizeTarPath.
absl::StatusOr<std::string> NormalizeHardlinkTarget(std::string_view target);

// Why an entry of this file type (AE_IF* from archive_entry.h, the same bits
// as S_IF*) may not be unpacked, or empty for files, folders and symlinks.
// Device nodes, FIFOs and sockets have no place in a host's saved state.
std::string_view EntryTypeProblem(unsigned type);

// True if `path` (normalized) is `folder` itself or lies inside it.
bool IsInFolder(std::string_view path, std::string_view folder);

// `name` in double quotes for an error message: C-escaped, and cut after 200
// bytes so that a hostile 4 KiB name does not become a 4 KiB log line.
std::string QuoteTarName(std::string_view name);

// The symlinks of one tar layer, followed the way an extracting tar would
// meet them. Catches what a per-link lexical check cannot: entries written
// through an earlier symlink ("l" -> "../usr", then "l/x"), and links that
// leave the tree through other links ("d/up" -> "..", "x" -> "d/up/..").
// Work and memory are linear in the total length of symlink paths and targets;
// an archive without symlinks costs nothing. Not thread-safe.
class SymlinkTree {
 public:
  SymlinkTree();

  // Records the next entry in archive order: `name` as written in the archive
  // (for messages), `path` normalized, `symlink_target` null unless the entry
  // is a symlink. Refuses a path that passes through a symlink recorded earlier.
  absl::Status Add(std::string_view name, std::string_view path, const std::string* symlink_target);

  // After the last Add: resolves every symlink, following the others. On
  // failure sets *offending_name to the name of the first symlink (in archive
  // order) that leaves the tree, loops, or chains more than kMaxSymlinkHops.
  absl::Status CheckAllInside(std::string* offending_name);

 private:
  struct Node {
    int parent = 0;
    int link = -1;  // Index into links_, or -1.
    std::map<std::string, int, std::less<>> children;
  };
  enum class State { kUnresolved, kResolving, kResolved };
  struct Link {
    int node = 0;
    std::string name;
    std::string target;
    State state = State::kUnresolved;
    int resolved = 0;
  };

  int Child(int node, std::string_view name, bool create);
  absl::StatusOr<int> Resolve(int link, int hops);
  absl::StatusOr<int> Walk(int from, std::string_view path, int hops);

  std::vector<Node> nodes_;  // nodes_[0] is the root.
  std::vector<Link> links_;
};

}  // namespace midwife

#endif  // MIDWIFE_CORE_TAR_ENTRY_RULES_H_
