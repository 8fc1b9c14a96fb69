#include "imagebuilder/cli/state_commands.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/mac_address.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "imagebuilder/host_render.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/image_repository.h"
#include "imagebuilder/state_tarball.h"

namespace midwife::imagebuilder::cli {
namespace {

// Archives up to this size are read whole; a state is kilobytes to megabytes.
constexpr size_t kMaxStateArchiveBytes = 256u << 20;

absl::StatusOr<std::vector<StateFile>> FilesOf(const std::string& archive_path) {
  ASSIGN_OR_RETURN(std::string archive, ReadFile(archive_path, kMaxStateArchiveBytes));
  auto files = ReadStateFiles(archive);
  if (!files.ok()) {
    return absl::Status(files.status().code(), absl::StrCat(archive_path, ": ", files.status().message()));
  }
  return files;
}

}  // namespace

absl::Status RunStateCommand(const CliOptions& o, std::ostream& out) {
  const size_t wanted = o.state_action == "diff" ? 2 : 1;
  if (o.paths.size() != wanted) {
    return absl::InvalidArgumentError(absl::StrCat("state ", o.state_action, " takes ", wanted, " path(s)"));
  }
  if (o.state_action == "pack") {
    if (o.out.empty()) return absl::InvalidArgumentError("state pack needs --out FILE");
    ASSIGN_OR_RETURN(std::vector<StateFile> files, ReadStateFolder(o.paths[0]));
    std::string archive = o.state_format == "cpio"      ? PackCpioOverlay(files)
                          : o.state_format == "tarball" ? PackTarball(files)
                                                        : PackEsxiState(files);
    RETURN_IF_ERROR(WriteFileAtomically(o.out, archive));
    if (o.json) {
      out << nlohmann::json{{"out", o.out}, {"files", files.size()}, {"size", archive.size()},
                            {"sha256", Sha256Hex(archive)}}.dump(2) << "\n";
    } else {
      out << o.out << ": " << files.size() << " files, " << archive.size() << " bytes, sha256 "
          << Sha256Hex(archive) << "\n";
    }
    return absl::OkStatus();
  }
  if (o.state_action == "unpack") {
    if (o.out.empty()) return absl::InvalidArgumentError("state unpack needs --out FOLDER");
    ASSIGN_OR_RETURN(std::vector<StateFile> files, FilesOf(o.paths[0]));
    RETURN_IF_ERROR(WriteStateFolder(o.out, files));
    out << "unpacked " << files.size() << " files into " << o.out << "\n";
    return absl::OkStatus();
  }
  if (o.state_action == "list") {
    ASSIGN_OR_RETURN(std::vector<StateFile> files, FilesOf(o.paths[0]));
    nlohmann::json j = nlohmann::json::array();
    for (const auto& f : files) {
      if (o.json) {
        j.push_back({{"path", f.path}, {"size", f.data.size()}, {"symlink", f.symlink_target},
                     {"sha256", Sha256Hex(f.data)}});
      } else {
        out << f.path << (f.symlink_target.empty() ? "" : " -> " + f.symlink_target) << "  "
            << f.data.size() << "\n";
      }
    }
    if (o.json) out << j.dump(2) << "\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::vector<StateFile> before, FilesOf(o.paths[0]));
  ASSIGN_OR_RETURN(std::vector<StateFile> after, FilesOf(o.paths[1]));
  StateDiff d = DiffStateFiles(before, after);
  if (o.json) {
    out << nlohmann::json{{"added", d.added}, {"removed", d.removed}, {"changed", d.changed}}.dump(2) << "\n";
  } else {
    for (const auto& p : d.added) out << "+ " << p << "\n";
    for (const auto& p : d.removed) out << "- " << p << "\n";
    for (const auto& p : d.changed) out << "~ " << p << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunRender(const CliOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(auto repository, ImageRepository::Open(o.repo));
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(o.images.at(0)));
  ASSIGN_OR_RETURN(ResolvedImage image, repository->Resolve(ref));
  ASSIGN_OR_RETURN(MacAddress mac, MacAddress::Parse(o.mac));
  std::string server = o.server;
  while (!server.empty() && server.back() == '/') server.pop_back();
  HostBootContext host{mac, server, o.token, 0, image.digest, true};
  const Firmware firmware = o.firmware == "uefi" ? Firmware::kUefi : Firmware::kBios;
  std::string script = RenderIpxeScript(image.image, host, firmware);
  std::string cfg = image.image.kind == ImageKind::kEsxi ? RenderHostBootCfg(image.image, host) : "";
  if (o.json) {
    out << nlohmann::json{{"boot.ipxe", script}, {"boot.cfg", cfg}}.dump(2) << "\n";
  } else {
    if (!cfg.empty()) out << "# boot.cfg\n" << cfg << "\n";
    out << "# boot.ipxe\n" << script;
  }
  return absl::OkStatus();
}

}  // namespace midwife::imagebuilder::cli
