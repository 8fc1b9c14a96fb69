#ifndef MIDWIFE_IMAGEBUILDER_REPOSITORY_MAINTENANCE_H_
#define MIDWIFE_IMAGEBUILDER_REPOSITORY_MAINTENANCE_H_

// Keeping an image repository healthy: verify re-hashes every blob, gc removes
// what no image needs. Both walk the whole repository; run them from the CLI
// or a timer, not per boot.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/byte_source.h"
#include "imagebuilder/image_repository.h"

namespace midwife::imagebuilder {

struct GcReport {
  std::vector<StoredBlob> removed_blobs;  // sorted by digest
  // Leftovers of interrupted writes, relative to the repository folder:
  // "blobs/sha256/.tmp-..." and "index.json.tmp....".
  std::vector<std::string> removed_temporaries;
  uint64_t removed_bytes = 0;  // of the blobs
  size_t kept_blobs = 0;
};

// Removes every blob that no manifest in index.json (named or not) refers to,
// as manifest, config or layer, and every temporary left by an interrupted
// write; with `dry_run`, only reports them. Refuses with FAILED_PRECONDITION,
// before removing anything, when a manifest cannot be read: it could not tell
// which blobs that image needs. REQUIRES: `lock` is `repo`'s write lock.
absl::StatusOr<GcReport> CollectGarbage(ImageRepository& repo, const WriteLock& lock, bool dry_run);

struct BlobProblem {
  BlobDigest digest;
  std::string problem;  // "corrupt: its bytes hash to sha256:...", "missing", ...
  // Who needs it: "esxi@8.0u2 module s.v00", "esxi@8.0u2 manifest", ...
  std::vector<std::string> used_by;
};

struct VerifyReport {
  size_t blobs_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<BlobProblem> problems;  // sorted by digest

  bool ok() const { return problems.empty(); }
};

// Re-hashes every blob (streaming) and checks that every blob an image refers
// to is there. A problem in the repository is a finding in the report, not an
// error; errors are for what stops the walk (index.json unreadable).
// `progress` gets bytes hashed of bytes stored. Takes no lock.
absl::StatusOr<VerifyReport> VerifyRepository(const ImageRepository& repo,
                                              const ProgressFn& progress = {});

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_REPOSITORY_MAINTENANCE_H_
