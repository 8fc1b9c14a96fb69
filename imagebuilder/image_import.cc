#include "imagebuilder/image_import.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/import_plan.h"
#include "imagebuilder/import_source.h"

namespace midwife::imagebuilder {

absl::StatusOr<WriteResult> ImportImage(ImageRepository& repo, const ImportOptions& options) {
  ASSIGN_OR_RETURN(const WriteLock lock, repo.LockForWriting());
  ASSIGN_OR_RETURN(std::unique_ptr<ImportSource> source, OpenImportSource(options.source));
  ASSIGN_OR_RETURN(const SourceListing listing, source->List());
  ASSIGN_OR_RETURN(const ImportPlan plan,
                   PlanImport(options.kind, source->name(), listing.entries, listing.descriptors));
  std::set<std::string> paths = {plan.kernel.source_path};
  for (const PlannedModule& module : plan.modules) paths.insert(module.source_path);
  for (const PlannedModule& loader : plan.loaders) paths.insert(loader.source_path);

  NewBlobs created(repo.blobs());
  std::map<std::string, StoredBlob> stored;
  uint64_t done_before = 0;
  RETURN_IF_ERROR(
      source->Read(paths, [&](const std::string& path, ByteSource& bytes) -> absl::Status {
        CountingByteSource counted(bytes, [&](uint64_t done) {
          if (options.progress) options.progress(done_before + done, plan.total_bytes);
        });
        ASSIGN_OR_RETURN(const BlobStore::PutResult put,
                         repo.blobs().Put(counted, absl::StrCat(source->name(), ": ", path)));
        stored[path] = created.Track(put);
        done_before += put.blob.size;
        return absl::OkStatus();
      }));

  ImageManifest image =
      MakeImportedImage(plan, options.ref, options.kind, FormatCreated(options.clock()), stored);
  return PublishImage(repo, lock, std::move(image), created);
}

absl::StatusOr<WriteResult> PublishImage(ImageRepository& repo, const WriteLock& lock,
                                         ImageManifest image, NewBlobs& created) {
  ASSIGN_OR_RETURN(const ImageRepository::PublishResult published, repo.Publish(lock, image));
  created.Commit();
  if (!published.created) {
    ASSIGN_OR_RETURN(ResolvedImage existing, repo.Resolve(image.ref));
    image = std::move(existing.image);
  }
  return WriteResult{std::move(image), published.digest, published.created, created.count(),
                     created.bytes()};
}

}  // namespace midwife::imagebuilder
