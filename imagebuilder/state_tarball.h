#ifndef MIDWIFE_IMAGEBUILDER_STATE_TARBALL_H_
#define MIDWIFE_IMAGEBUILDER_STATE_TARBALL_H_

// A host's state as files, and the byte-for-byte deterministic archives built
// from it: ESXi's state.tgz (state.tgz > local.tgz > etc/...) and, for Linux
// stand-in hosts, a newc cpio.gz overlay. Same files, same bytes: members
// sorted by path, mtime 0, owner root, modes normalized, no timestamp or name
// in the gzip header. So an archive's digest can be its HTTP ETag, and the
// boot server builds each one once per backup, not once per boot.
//
// Reading goes through core/state_archive.h's validator first: only archives
// it accepts are unpacked.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/state_archive.h"

namespace midwife::imagebuilder {

struct StateFile {
  std::string path;  // relative: "etc/hosts"
  std::string data;
  bool executable = false;
  // A symlink when set; data is then empty.
  std::string symlink_target;

  friend bool operator==(const StateFile&, const StateFile&) = default;
};

// Files of a state archive of any kind (esxi-state, config bundle, plain
// tarball), sorted by path; directories are implied. For the ESXi 7+
// encrypted layout FAILED_PRECONDITION: only the host can read it.
absl::StatusOr<std::vector<StateFile>> ReadStateFiles(std::string_view archive);

// ESXi layout: a state.tgz holding local.tgz holding `files`.
std::string PackEsxiState(std::vector<StateFile> files);
// A plain gzip'd tar of `files`.
std::string PackTarball(std::vector<StateFile> files);
// A gzip'd newc cpio of `files`, for Linux initramfs overlays.
std::string PackCpioOverlay(std::vector<StateFile> files);

// The state.tgz ESXi boots with from a stored backup: an esxi-state archive
// as stored; a config bundle's inner state.tgz; a plain tarball repacked.
absl::StatusOr<std::string> EsxiStateFromBackup(std::string_view backup);
// The cpio.gz overlay a Linux host boots with from a stored backup.
absl::StatusOr<std::string> CpioOverlayFromBackup(std::string_view backup);

// Reads every regular file and symlink under `dir` as state files.
absl::StatusOr<std::vector<StateFile>> ReadStateFolder(const std::string& dir);
// Writes `files` under `dir` (created), refusing to follow or leave it.
absl::Status WriteStateFolder(const std::string& dir, const std::vector<StateFile>& files);

struct StateDiff {
  std::vector<std::string> added, removed, changed;
};
StateDiff DiffStateFiles(const std::vector<StateFile>& before, const std::vector<StateFile>& after);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_STATE_TARBALL_H_
