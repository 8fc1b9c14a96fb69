#ifndef MIDWIFE_CORE_STATE_ARCHIVE_H_
#define MIDWIFE_CORE_STATE_ARCHIVE_H_

// The one reader of host state tarballs in the project.
//
// Shapes (ESXi's own layout, see ARCHITECTURE.md):
//   kEsxiState         state.tgz: gzip'd tar holding local.tgz (or, on ESXi 7+,
//                      local.tgz.ve + encryption.info); local.tgz is a gzip'd
//                      tar of relative etc/... paths.
//   kEsxiConfigBundle  configBundle-*.tgz: gzip'd tar holding Manifest.txt and
//                      state.tgz (as above). Manifest.txt carries RELEASELEVEL.
//   kPlainTarball      any other gzip'd tar of relative paths (non-ESXi hosts).
//
// Validation streams through libarchive and stops at the first bad entry, so
// a gzip bomb is refused after `max_uncompressed_bytes`, not after inflating.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife {

enum class StateKind { kEsxiState, kEsxiConfigBundle, kPlainTarball };

// "esxi-state", "esxi-config-bundle", "plain-tarball".
std::string_view StateKindName(StateKind kind);
absl::StatusOr<StateKind> ParseStateKind(std::string_view name);

struct StateArchiveLimits {
  // Entries in all tar layers together.
  size_t max_entries = 10000;
  // Bytes after decompression, all layers together (default 64 MiB).
  uint64_t max_uncompressed_bytes = 64ull << 20;
};

struct StateArchiveInfo {
  StateKind kind = StateKind::kPlainTarball;
  // For a config bundle: "esxi_build" from Manifest.txt's RELEASELEVEL, when present.
  std::map<std::string, std::string> labels;
  size_t entries = 0;
  uint64_t uncompressed_bytes = 0;
};

// Checks that `archive` is a well-formed gzip'd tar of the given kind (or, when
// `expected` is empty, detects the kind from its members). Refuses absolute
// paths, "..", device nodes, FIFOs, sockets, symlinks or hard links that
// escape the tree, more than the limits, and missing required members.
// Errors are INVALID_ARGUMENT naming the layer, the entry and the reason, e.g.
// `archive/local.tgz: entry "etc/../../x": path has a ".." component`; the
// top layer is "archive", nested ones add their member name. Pure: no I/O.
absl::StatusOr<StateArchiveInfo> ValidateStateArchive(
    std::string_view archive, std::optional<StateKind> expected = std::nullopt,
    const StateArchiveLimits& limits = {});

}  // namespace midwife

#endif  // MIDWIFE_CORE_STATE_ARCHIVE_H_
