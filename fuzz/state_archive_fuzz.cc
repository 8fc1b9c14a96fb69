// libFuzzer target: the state tarball validator (core/state_archive.h):
// gzip (checksums, trailer), tar entry rules, symlink resolution, and the
// nested local.tgz of an ESXi state. Limits are small so that a fuzzed
// archive cannot spend the run inflating 64 MiB; the validator promises work
// linear in what the limits allow.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/state_archive.h"

using midwife::StateArchiveLimits;
using midwife::StateKind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view archive(reinterpret_cast<const char*>(data), size);
  StateArchiveLimits limits;
  limits.max_entries = 256;
  limits.max_uncompressed_bytes = 1 << 20;
  auto info = midwife::ValidateStateArchive(archive, std::nullopt, limits);
  if (!info.ok()) return 0;
  if (info->entries > limits.max_entries ||
      info->uncompressed_bytes > limits.max_uncompressed_bytes) {
    std::abort();
  }
  // Detection and the explicit check must agree.
  auto same = midwife::ValidateStateArchive(archive, info->kind, limits);
  if (!same.ok() || same->kind != info->kind) std::abort();
  return 0;
}
