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
// Validation reads each layer once, front to back (core/tar_layer_reader.h),
// and stops at the first bad entry. Inflating is bounded as it goes
// (core/gunzip_stream.h), so a gzip bomb is refused after
// `max_uncompressed_bytes`, not after inflating. Nested layers (local.tgz, a
// bundle's state.tgz) are held in memory, within the same byte budget.
//
// Error messages name the layer, then the entry, then the reason:
//   state.tgz/local.tgz: entry "etc/../../x": path has a ".." component
// Layers are named "state.tgz", "configBundle" or "tarball" by kind, and
// nested ones add their member: "configBundle/state.tgz/local.tgz". When the
// kind is being detected (no `expected`), errors met while reading the top
// layer, before its members are all known, name it "archive".

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
// The inverse of StateKindName (exact match); INVALID_ARGUMENT naming `name`
// and the accepted names otherwise.
absl::StatusOr<StateKind> ParseStateKind(std::string_view name);

struct StateArchiveLimits {
  // Entries in all tar layers together.
  size_t max_entries = 10000;
  // Bytes after decompression, all layers together (default 64 MiB).
  uint64_t max_uncompressed_bytes = 64ull << 20;
};

struct StateArchiveInfo {
  StateKind kind = StateKind::kPlainTarball;
  // For a config bundle: "esxi_build" from Manifest.txt's RELEASELEVEL line
  // (`RELEASELEVEL=VMware ESXi 8.0.2 build-22380479`), trimmed, when present.
  std::map<std::string, std::string> labels;
  size_t entries = 0;
  uint64_t uncompressed_bytes = 0;
};

// Checks that `archive` is a well-formed gzip'd tar of the given kind (or, when
// `expected` is empty, detects it: Manifest.txt and state.tgz at the top make
// a config bundle, local.tgz or local.tgz.ve an ESXi state, anything else a
// plain tarball). Entry names may start with "./"; folders are fine.
// Refuses, each as INVALID_ARGUMENT (message format above):
//   - anything but a whole gzip stream (checksums verified, no trailing bytes)
//     holding a non-empty tar;
//   - absolute paths, ".." components, paths over 4096 bytes; device nodes,
//     FIFOs, sockets; symlinks whose target is absolute or leaves the tree
//     (resolved from the link's folder, following the layer's other links);
//     entries written through a symlink; hard links whose target is absolute
//     or has a ".." component;
//   - in local.tgz, entries (and hard link targets) outside etc/ (the "./"
//     root folder entry aside): ESXi unpacks local.tgz over its own root;
//   - more than `limits` entries or uncompressed bytes, all layers together
//     (the decompressed tar streams are what is counted);
//   - missing members (named), or a kind other than `expected` (both named);
//   - a config bundle whose Manifest.txt RELEASELEVEL is longer than 256 bytes
//     or holds control characters.
// An encrypted local.tgz.ve (ESXi 7+) is opaque: only its presence, with
// encryption.info beside it, is checked.
// Pure: no I/O. Thread-safe (no shared state). Work is linear in the bytes
// and entries allowed by `limits`.
absl::StatusOr<StateArchiveInfo> ValidateStateArchive(
    std::string_view archive, std::optional<StateKind> expected = std::nullopt,
    const StateArchiveLimits& limits = {});

}  // namespace midwife

#endif  // MIDWIFE_CORE_STATE_ARCHIVE_H_
