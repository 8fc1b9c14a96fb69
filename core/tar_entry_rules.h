#ifndef MIDWIFE_CORE_TAR_ENTRY_RULES_H_
#define MIDWIFE_CORE_TAR_ENTRY_RULES_H_

// Pure checks on tar member names and link targets: what may appear in a
// host's state tarball without escaping the folder it is unpacked into.

#include <optional>
#include <string>
#include <string_view>

namespace midwife {

// "./etc/x" -> "etc/x"; "." and "./" -> "" (the root entry, skipped by callers).
std::string_view StripDotSlash(std::string_view name);

// Why `name` (already stripped) may not be unpacked, or nullopt if it may:
// empty, absolute, or with a ".." component.
std::optional<std::string> BadMemberName(std::string_view name);

// Why a symlink at `name` pointing to `target` escapes the tree, or nullopt.
// Relative targets resolve against the link's own folder.
std::optional<std::string> BadSymlinkTarget(std::string_view name, std::string_view target);

}  // namespace midwife

#endif  // MIDWIFE_CORE_TAR_ENTRY_RULES_H_
