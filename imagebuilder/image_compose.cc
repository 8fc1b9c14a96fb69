#include "imagebuilder/image_compose.h"

#include <map>
#include <memory>
#include <vector>

#include "core/status_macros.h"

namespace midwife::imagebuilder {

absl::StatusOr<WriteResult> ComposeImage(ImageRepository& repo, const ComposeOptions& options) {
  ASSIGN_OR_RETURN(const WriteLock lock, repo.LockForWriting());
  ASSIGN_OR_RETURN(const ResolvedImage base, repo.Resolve(options.from));

  // Open every file first: a typo in the last --add fails before any store.
  std::vector<std::pair<std::string, std::unique_ptr<FileByteSource>>> files;
  uint64_t total = 0;
  for (const std::string& path : FilesToStore(options.edits)) {
    ASSIGN_OR_RETURN(std::unique_ptr<FileByteSource> file, FileByteSource::Open(path));
    total += file->size();
    files.emplace_back(path, std::move(file));
  }

  NewBlobs created(repo.blobs());
  std::map<std::string, StoredBlob> stored;
  uint64_t done_before = 0;
  for (auto& [path, file] : files) {
    CountingByteSource counted(*file, [&](uint64_t done) {
      if (options.progress) options.progress(done_before + done, total);
    });
    ASSIGN_OR_RETURN(const BlobStore::PutResult put, repo.blobs().Put(counted, path));
    stored[path] = created.Track(put);
    done_before += put.blob.size;
  }

  ASSIGN_OR_RETURN(ImageManifest image, PlanCompose(base.image, base.digest, options.edits, stored,
                                                    options.ref, FormatCreated(options.clock())));
  return PublishImage(repo, lock, std::move(image), created);
}

}  // namespace midwife::imagebuilder
