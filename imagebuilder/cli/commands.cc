#include "imagebuilder/cli/commands.h"

#include "imagebuilder/cli/assignment_check.h"
#include "imagebuilder/cli/state_commands.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "imagebuilder/cli/output.h"
#include "imagebuilder/cli/progress_bar.h"
#include "imagebuilder/image_compose.h"
#include "imagebuilder/image_diff.h"
#include "imagebuilder/image_import.h"
#include "imagebuilder/repository_maintenance.h"

namespace midwife::imagebuilder::cli {
namespace {

void Print(std::ostream& out, bool json, const nlohmann::json& document, const std::string& text) {
  if (json) {
    out << document.dump(2) << "\n";
  } else {
    out << text;
  }
}

absl::StatusOr<ImageRef> NewRef(const CliOptions& o) {
  ImageRef ref{o.name, o.version};
  RETURN_IF_ERROR(ValidateImageRefPart("name", ref.name));
  RETURN_IF_ERROR(ValidateImageRefPart("version", ref.version));
  return ref;
}

absl::Status Import(const CliOptions& o, std::ostream& out) {
  ImportOptions options;
  options.source = o.source;
  ASSIGN_OR_RETURN(options.ref, NewRef(o));
  ASSIGN_OR_RETURN(options.kind, ParseImageKind(o.kind));
  // Checked here too so that a typo does not leave a new, empty repository.
  if (std::error_code ec; !std::filesystem::exists(o.source, ec)) {
    return absl::NotFoundError(o.source + " does not exist; give an ISO, a tarball or a folder");
  }
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo, /*create_if_missing=*/true));
  absl::StatusOr<WriteResult> result;
  {
    ProgressBar bar("importing " + options.ref.ToString());
    options.progress = bar.Callback();
    result = ImportImage(*repo, options);
  }
  if (!result.ok()) return result.status();
  Print(out, o.json, WriteResultJson(*result), WriteResultText(*result, "imported"));
  return absl::OkStatus();
}

absl::Status Compose(const CliOptions& o, std::ostream& out) {
  ComposeOptions options;
  ASSIGN_OR_RETURN(options.from, ParseImageRef(o.from));
  ASSIGN_OR_RETURN(options.ref, NewRef(o));
  for (const std::string& add : o.add) {
    ASSIGN_OR_RETURN(AddModule parsed, ParseAddModule(add));
    options.edits.add.push_back(std::move(parsed));
  }
  for (const std::string& replace : o.replace) {
    ASSIGN_OR_RETURN(ReplaceModule parsed, ParseReplaceModule(replace));
    options.edits.replace.push_back(std::move(parsed));
  }
  options.edits.remove = o.remove;
  options.edits.kernelopt = o.kernelopt;
  options.edits.append_kernelopt = o.append_kernelopt;
  options.edits.title = o.title;
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  absl::StatusOr<WriteResult> result;
  {
    ProgressBar bar("composing " + options.ref.ToString());
    options.progress = bar.Callback();
    result = ComposeImage(*repo, options);
  }
  if (!result.ok()) return result.status();
  Print(out, o.json, WriteResultJson(*result), WriteResultText(*result, "composed"));
  return absl::OkStatus();
}

absl::Status List(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(const std::vector<IndexEntry> entries, repo->ListImages());
  std::vector<ListedImage> listed;
  for (const IndexEntry& entry : entries) {
    absl::StatusOr<ImageManifest> image = repo->ReadImage(entry.digest);
    listed.push_back({entry, image.ok() ? std::optional(*image) : std::nullopt,
                      image.ok() ? "" : std::string(image.status().message())});
  }
  Print(out, o.json, ListJson(listed), ListText(listed));
  return absl::OkStatus();
}

absl::Status Show(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(const ImageRef ref, ParseImageRef(o.images.at(0)));
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(const ResolvedImage resolved, repo->Resolve(ref));
  Print(out, o.json, ImageJson(resolved.image, resolved.digest),
        ImageText(resolved.image, resolved.digest));
  return absl::OkStatus();
}

absl::Status Diff(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(const ImageRef from_ref, ParseImageRef(o.images.at(0)));
  ASSIGN_OR_RETURN(const ImageRef to_ref, ParseImageRef(o.images.at(1)));
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(const ResolvedImage from, repo->Resolve(from_ref));
  ASSIGN_OR_RETURN(const ResolvedImage to, repo->Resolve(to_ref));
  const ImageDiff diff = DiffImages(from.image, to.image);
  Print(out, o.json, DiffJson(from.image, to.image, diff), DiffText(from.image, to.image, diff));
  return absl::OkStatus();
}

absl::Status Verify(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  absl::StatusOr<VerifyReport> report;
  {
    ProgressBar bar("verifying " + o.repo);
    report = VerifyRepository(*repo, bar.Callback());
  }
  if (!report.ok()) return report.status();
  Print(out, o.json, VerifyJson(*report), VerifyText(*report));
  if (report->ok()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(report->problems.size(),
                                          " blob(s) corrupt or missing in ", o.repo,
                                          "; restore them from a copy of the repository, or remove "
                                          "and re-import the images using them"));
}

absl::Status Gc(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(const WriteLock lock, repo->LockForWriting());
  ASSIGN_OR_RETURN(const GcReport report, CollectGarbage(*repo, lock, o.dry_run));
  Print(out, o.json, GcJson(report, o.dry_run), GcText(report, o.dry_run));
  return absl::OkStatus();
}

absl::Status Remove(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(const ImageRef ref, ParseImageRef(o.images.at(0)));
  if (!o.force) RETURN_IF_ERROR(CheckImageUnused(ref.ToString(), {o.statestore, o.statestore_token_file}));
  ASSIGN_OR_RETURN(auto repo, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(const WriteLock lock, repo->LockForWriting());
  RETURN_IF_ERROR(repo->Remove(lock, ref));
  Print(out, o.json, {{"removed", ref.ToString()}},
        absl::StrCat("removed ", ref.ToString(), "; its blobs stay until `imagebuilder gc`\n"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunCommand(const CliOptions& o, std::ostream& out) {
  if (o.command == "import") return Import(o, out);
  if (o.command == "compose") return Compose(o, out);
  if (o.command == "list") return List(o, out);
  if (o.command == "show") return Show(o, out);
  if (o.command == "diff") return Diff(o, out);
  if (o.command == "verify") return Verify(o, out);
  if (o.command == "gc") return Gc(o, out);
  if (o.command == "remove") return Remove(o, out);
  if (o.command == "state") return RunStateCommand(o, out);
  if (o.command == "render") return RunRender(o, out);
  return absl::InvalidArgumentError("unknown command " + o.command + "; see imagebuilder --help");
}

}  // namespace midwife::imagebuilder::cli
