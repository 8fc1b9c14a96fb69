#ifndef MIDWIFE_CORE_TAR_LAYER_READER_H_
#define MIDWIFE_CORE_TAR_LAYER_READER_H_

// Reads one layer of a nested gzip'd tar (state.tgz holds local.tgz, a config
// bundle holds state.tgz) and checks every entry with core/tar_entry_rules.h.
// The building block of ValidateStateArchive (core/state_archive.h).

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace midwife {

// Limits and counts shared by all the layers of one archive, so that a bomb
// cannot hide one level down.
struct TarBudget {
  size_t max_entries = 0;
  uint64_t max_bytes = 0;  // Decompressed tar stream bytes.
  size_t entries = 0;
  uint64_t bytes = 0;
};

struct TarLayerOptions {
  // Names the layer in messages, e.g. "state.tgz/local.tgz".
  std::string name;
  // When set, every entry and hard link target must lie in this folder.
  std::string only_folder;
  // Top-level regular files to look for (normalized names, e.g. "local.tgz")...
  std::vector<std::string> members;
  // ...and, of those, the ones whose bytes to keep.
  std::vector<std::string> keep;
};

struct TarLayerMembers {
  std::set<std::string, std::less<>> present;            // Of TarLayerOptions::members.
  std::map<std::string, std::string, std::less<>> kept;  // Of TarLayerOptions::keep.
  bool has(std::string_view name) const { return present.contains(name); }
};

// Reads the gzip'd tar `gz` to its end, checking every entry (names, types,
// links; see ValidateStateArchive for the rules) and counting entries and
// decompressed bytes against `budget` as it streams. A member appearing twice
// keeps its last copy, as extraction would. Errors are INVALID_ARGUMENT:
//   <layer>: entry "<name>": <reason>    about one entry
//   <layer>: <reason>                    about the layer (not gzip, empty...)
// Pure: no I/O. Memory: the kept members, plus at most kMaxWholeInflateBytes
// (core/gunzip_stream.h) of inflated tar.
absl::StatusOr<TarLayerMembers> ReadTarLayer(std::string_view gz, const TarLayerOptions& options,
                                             TarBudget& budget);

}  // namespace midwife

#endif  // MIDWIFE_CORE_TAR_LAYER_READER_H_
