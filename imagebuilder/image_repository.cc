#include "imagebuilder/image_repository.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "imagebuilder/file_errors.h"
#include "imagebuilder/image_diff.h"

namespace midwife::imagebuilder {
namespace {

absl::Status InFile(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", std::string(status.message())));
}

absl::Status Prefixed(const std::string& what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", std::string(status.message())));
}

// What differs, for the refusal to overwrite an image.
std::string DifferenceSummary(const ImageManifest& stored, const ImageManifest& offered) {
  const ImageDiff diff = DiffImages(stored, offered);
  std::vector<std::string> parts;
  if (!diff.added.empty()) parts.push_back(absl::StrCat(diff.added.size(), " module(s) added"));
  if (!diff.removed.empty()) parts.push_back(absl::StrCat(diff.removed.size(), " removed"));
  if (!diff.changed.empty()) {
    parts.push_back(absl::StrCat(diff.changed.size(), " changed (", diff.changed.front().to.name,
                                 diff.changed.size() > 1 ? ", ..." : "", ")"));
  }
  if (diff.reordered) parts.push_back("module order");
  for (const SettingChange& setting : diff.settings) parts.push_back(setting.key);
  if (stored.parent != offered.parent) parts.push_back("parent");
  std::string out;
  for (const std::string& part : parts) absl::StrAppend(&out, out.empty() ? "" : ", ", part);
  return out.empty() ? "boot settings" : out;
}

}  // namespace

WriteLock& WriteLock::operator=(WriteLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

WriteLock::~WriteLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

ImageRepository::ImageRepository(std::string dir)
    : dir_(std::move(dir)), blobs_(absl::StrCat(dir_, "/", std::string(kBlobFolder))) {}

absl::StatusOr<std::unique_ptr<ImageRepository>> ImageRepository::Open(const std::string& dir,
                                                                       bool create_if_missing) {
  std::unique_ptr<ImageRepository> repo(new ImageRepository(dir));
  const std::string layout = absl::StrCat(dir, "/", std::string(kOciLayoutFile));
  const std::string index = absl::StrCat(dir, "/", std::string(kIndexFile));
  if (::access(layout.c_str(), F_OK) != 0) {
    if (!create_if_missing) {
      return absl::NotFoundError(absl::StrCat("no image repository in ", dir,
                                              " (no oci-layout file); import an image first or "
                                              "pass --repo"));
    }
    std::error_code ec;
    std::filesystem::create_directories(repo->blobs_.dir(), ec);
    if (ec) return FileError("cannot create image repository in", dir, ec.value());
    // Two first imports may race here: link() creates index.json only if it
    // is still absent, so neither can empty an index the other has filled.
    // (A crash may leave the staging file; its name is one gc removes.)
    const std::string staged = absl::StrCat(index, ".tmp.new-", RandomHex(4));
    RETURN_IF_ERROR(WriteFileAtomically(staged, RenderOciIndex({})));
    const int linked = ::link(staged.c_str(), index.c_str());
    const int link_error = errno;
    ::unlink(staged.c_str());
    if (linked != 0 && link_error != EEXIST) return FileError("cannot create", index, link_error);
    // oci-layout last: its presence says the repository is complete.
    RETURN_IF_ERROR(WriteFileAtomically(layout, RenderOciLayout()));
  }
  ASSIGN_OR_RETURN(const std::string layout_text, ReadFile(layout, 4096));
  if (absl::Status status = CheckOciLayout(layout_text); !status.ok())
    return InFile(layout, status);
  if (!std::filesystem::is_directory(repo->blobs_.dir())) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is not a complete image repository: ", repo->blobs_.dir(), " is missing"));
  }
  return repo;
}

absl::StatusOr<OciIndex> ImageRepository::ReadIndex() const {
  const std::string path = absl::StrCat(dir_, "/", std::string(kIndexFile));
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path, kMaxIndexBytes));
  absl::StatusOr<OciIndex> index = ParseOciIndex(text);
  if (!index.ok()) return InFile(path, index.status());
  return index;
}

absl::StatusOr<std::vector<IndexEntry>> ImageRepository::ListImages() const {
  ASSIGN_OR_RETURN(const OciIndex index, ReadIndex());
  std::vector<IndexEntry> out;
  for (const OciDescriptor& d : index.manifests) {
    const auto name = d.annotations.find(std::string(kRefNameAnnotation));
    if (name == d.annotations.end()) continue;
    absl::StatusOr<ImageRef> ref = ParseOciRefName(name->second);
    if (!ref.ok()) continue;  // another tool's naming: not ours to list
    out.push_back({*std::move(ref), d.digest, d.size});
  }
  std::sort(out.begin(), out.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.ref < b.ref; });
  return out;
}

absl::StatusOr<OciManifest> ImageRepository::ReadOciManifest(const BlobDigest& digest) const {
  ASSIGN_OR_RETURN(const std::string text, blobs_.ReadVerified(digest, kMaxManifestBytes));
  absl::StatusOr<OciManifest> manifest = ParseOciManifest(text);
  if (!manifest.ok()) return Prefixed("manifest " + digest.ToString(), manifest.status());
  return manifest;
}

absl::StatusOr<ImageManifest> ImageRepository::ReadImage(const BlobDigest& digest) const {
  ASSIGN_OR_RETURN(const OciManifest manifest, ReadOciManifest(digest));
  ASSIGN_OR_RETURN(const std::string config,
                   blobs_.ReadVerified(manifest.config.digest, kMaxManifestBytes));
  absl::StatusOr<ImageManifest> image = DecodeImage(manifest, config);
  if (!image.ok()) return Prefixed("manifest " + digest.ToString(), image.status());
  return image;
}

absl::StatusOr<ResolvedImage> ImageRepository::Resolve(const ImageRef& ref) const {
  ASSIGN_OR_RETURN(const std::vector<IndexEntry> entries, ListImages());
  for (const IndexEntry& entry : entries) {
    if (entry.ref != ref) continue;
    absl::StatusOr<ImageManifest> image = ReadImage(entry.digest);
    if (!image.ok()) return Prefixed(ref.ToString(), image.status());
    if (image->ref != ref) {
      return absl::DataLossError(absl::StrCat(ref.ToString(), ": index.json names manifest ",
                                              entry.digest.ToString(), " which describes ",
                                              image->ref.ToString()));
    }
    return ResolvedImage{*std::move(image), entry.digest};
  }
  return absl::NotFoundError(absl::StrCat("no image ", ref.ToString(), " in ", dir_,
                                          "; `imagebuilder list` shows the images there"));
}

absl::StatusOr<WriteLock> ImageRepository::LockForWriting() {
  const std::string path = absl::StrCat(dir_, "/", std::string(kLockFile));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return FileError("cannot open lock file", path, errno);
  WriteLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::UnavailableError(
          absl::StrCat("another imagebuilder is changing ", dir_,
                       " (import, compose, remove or gc); retry when it is done"));
    }
    return FileError("cannot lock", path, errno);
  }
  return lock;
}

absl::StatusOr<ImageRepository::PublishResult> ImageRepository::Publish(
    const WriteLock&, const ImageManifest& image) {
  RETURN_IF_ERROR(ValidateImage(image));
  ASSIGN_OR_RETURN(OciIndex index, ReadIndex());
  ASSIGN_OR_RETURN(const std::vector<IndexEntry> named, ListImages());
  for (const IndexEntry& entry : named) {
    if (entry.ref != image.ref) continue;
    ASSIGN_OR_RETURN(const ImageManifest stored, ReadImage(entry.digest));
    if (SameContent(stored, image)) return PublishResult{entry.digest, false};
    return absl::AlreadyExistsError(
        absl::StrCat(image.ref.ToString(), " already exists with other content (",
                     DifferenceSummary(stored, image),
                     "); images are immutable: use a new version, or `imagebuilder remove ",
                     image.ref.ToString(), "` first"));
  }
  const auto check = [this](const ImageModule& module) -> absl::Status {
    if (blobs_.Contains(module.digest)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "module ", module.name, " (", module.digest.ToString(), ") is not stored in ", dir_));
  };
  RETURN_IF_ERROR(check(image.kernel));
  for (const ImageModule& module : image.modules) RETURN_IF_ERROR(check(module));
  for (const ImageModule& loader : image.loaders) RETURN_IF_ERROR(check(loader));

  const EncodedImage encoded = EncodeImage(image);
  NewBlobs created(blobs_);
  ASSIGN_OR_RETURN(const BlobStore::PutResult config,
                   blobs_.PutBytes(encoded.config, "image config"));
  created.Track(config);
  ASSIGN_OR_RETURN(const BlobStore::PutResult manifest,
                   blobs_.PutBytes(encoded.manifest, "image manifest"));
  created.Track(manifest);

  OciDescriptor entry{
      std::string(kManifestMediaType), manifest.blob.digest, manifest.blob.size, {}};
  entry.annotations[std::string(kRefNameAnnotation)] = image.ref.ToOciRefName();
  index.manifests.push_back(std::move(entry));
  RETURN_IF_ERROR(WriteIndex(index));
  created.Commit();
  return PublishResult{manifest.blob.digest, true};
}

absl::Status ImageRepository::Remove(const WriteLock&, const ImageRef& ref) {
  ASSIGN_OR_RETURN(OciIndex index, ReadIndex());
  const std::string name = ref.ToOciRefName();
  const auto it =
      std::find_if(index.manifests.begin(), index.manifests.end(), [&](const OciDescriptor& d) {
        const auto found = d.annotations.find(std::string(kRefNameAnnotation));
        return found != d.annotations.end() && found->second == name;
      });
  if (it == index.manifests.end()) {
    return absl::NotFoundError(absl::StrCat("no image ", ref.ToString(), " in ", dir_,
                                            "; `imagebuilder list` shows the images there"));
  }
  index.manifests.erase(it);
  return WriteIndex(index);
}

absl::Status ImageRepository::WriteIndex(const OciIndex& index) {
  const std::string path = absl::StrCat(dir_, "/", std::string(kIndexFile));
  absl::Status status = WriteFileAtomically(path, RenderOciIndex(index));
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(status.message()), "; free space and retry"));
  }
  return status;
}

}  // namespace midwife::imagebuilder
