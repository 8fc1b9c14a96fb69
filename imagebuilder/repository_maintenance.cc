#include "imagebuilder/repository_maintenance.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::imagebuilder {
namespace {

// WriteFileAtomically's temporaries: "<file>.tmp.<pid>.<random>".
constexpr std::string_view kRootTemporaryPrefixes[] = {"index.json.tmp.", "oci-layout.tmp."};

std::string DisplayName(const OciDescriptor& d) {
  const auto name = d.annotations.find(std::string(kRefNameAnnotation));
  if (name == d.annotations.end()) return "unnamed image " + d.digest.Short();
  absl::StatusOr<ImageRef> ref = ParseOciRefName(name->second);
  return ref.ok() ? ref->ToString() : name->second;
}

// What a layer is to its image, for verify's "used by" lines.
const char* LayerRole(const OciDescriptor& layer, size_t index) {
  if (index == 0) return " kernel ";
  return layer.media_type == kLoaderMediaType ? " loader " : " module ";
}

std::string LayerName(const OciDescriptor& layer, size_t index) {
  const auto title = layer.annotations.find(std::string(kTitleAnnotation));
  return title != layer.annotations.end() ? title->second : absl::StrCat("layer ", index);
}

std::vector<std::string> RootTemporaries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    for (std::string_view prefix : kRootTemporaryPrefixes) {
      if (name.starts_with(prefix)) out.push_back(name);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<GcReport> CollectGarbage(ImageRepository& repo, const WriteLock&, bool dry_run) {
  ASSIGN_OR_RETURN(const OciIndex index, repo.ReadIndex());
  std::set<BlobDigest> referenced;
  for (const OciDescriptor& d : index.manifests) {
    absl::StatusOr<OciManifest> manifest = repo.ReadOciManifest(d.digest);
    if (!manifest.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("gc removed nothing: cannot tell which blobs ", DisplayName(d), " needs (",
                       std::string(manifest.status().message()),
                       "); run `imagebuilder verify`, then restore "
                       "or remove that image"));
    }
    referenced.insert(d.digest);
    referenced.insert(manifest->config.digest);
    for (const OciDescriptor& layer : manifest->layers) referenced.insert(layer.digest);
  }
  GcReport report;
  ASSIGN_OR_RETURN(const std::vector<StoredBlob> stored, repo.blobs().List());
  for (const StoredBlob& blob : stored) {
    if (referenced.contains(blob.digest)) {
      ++report.kept_blobs;
      continue;
    }
    if (!dry_run) RETURN_IF_ERROR(repo.blobs().Remove(blob.digest));
    report.removed_blobs.push_back(blob);
    report.removed_bytes += blob.size;
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> temporaries, repo.blobs().ListTemporaries());
  for (const std::string& name : temporaries) {
    if (!dry_run) RETURN_IF_ERROR(repo.blobs().RemoveTemporary(name));
    report.removed_temporaries.push_back(absl::StrCat(std::string(kBlobFolder), "/", name));
  }
  for (const std::string& name : RootTemporaries(repo.dir())) {
    const std::string path = absl::StrCat(repo.dir(), "/", name);
    std::error_code ec;
    if (!dry_run && !std::filesystem::remove(path, ec) && ec) {
      return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
    }
    report.removed_temporaries.push_back(name);
  }
  return report;
}

absl::StatusOr<VerifyReport> VerifyRepository(const ImageRepository& repo,
                                              const ProgressFn& progress) {
  ASSIGN_OR_RETURN(const OciIndex index, repo.ReadIndex());
  std::map<BlobDigest, std::vector<std::string>> users;
  std::map<BlobDigest, std::string> unreadable;  // manifests that hash right but do not parse
  for (const OciDescriptor& d : index.manifests) {
    const std::string image = DisplayName(d);
    users[d.digest].push_back(image + " manifest");
    absl::StatusOr<OciManifest> manifest = repo.ReadOciManifest(d.digest);
    if (!manifest.ok()) {
      // A corrupt or missing manifest shows up below as such; anything else is
      // a manifest we cannot use.
      if (!absl::IsDataLoss(manifest.status()) && !absl::IsNotFound(manifest.status())) {
        unreadable[d.digest] = std::string(manifest.status().message());
      }
      continue;
    }
    users[manifest->config.digest].push_back(image + " config");
    for (size_t i = 0; i < manifest->layers.size(); ++i) {
      users[manifest->layers[i].digest].push_back(
          absl::StrCat(image, LayerRole(manifest->layers[i], i), LayerName(manifest->layers[i], i)));
    }
  }

  ASSIGN_OR_RETURN(const std::vector<StoredBlob> stored, repo.blobs().List());
  uint64_t total = 0;
  for (const StoredBlob& blob : stored) total += blob.size;
  VerifyReport report;
  std::set<BlobDigest> present;
  for (const StoredBlob& blob : stored) {
    present.insert(blob.digest);
    const uint64_t before = report.bytes_checked;
    absl::Status status = repo.blobs().Verify(blob.digest, [&](uint64_t done) {
      if (progress) progress(before + done, total);
    });
    ++report.blobs_checked;
    report.bytes_checked += blob.size;
    std::string problem;
    if (absl::IsDataLoss(status)) {
      const std::string message(status.message());
      const size_t colon = message.find(": ");
      problem = "corrupt: " + (colon == std::string::npos ? message : message.substr(colon + 2));
    } else if (!status.ok()) {
      problem = "unreadable: " + std::string(status.message());
    } else if (auto it = unreadable.find(blob.digest); it != unreadable.end()) {
      problem = "manifest unreadable: " + it->second;
    }
    if (!problem.empty()) report.problems.push_back({blob.digest, problem, users[blob.digest]});
  }
  for (const auto& [digest, needed_by] : users) {
    if (!present.contains(digest)) report.problems.push_back({digest, "missing", needed_by});
  }
  std::sort(report.problems.begin(), report.problems.end(),
            [](const BlobProblem& a, const BlobProblem& b) { return a.digest < b.digest; });
  return report;
}

}  // namespace midwife::imagebuilder
