#include "statestore/cli/client_commands.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/state_archive.h"
#include "core/status_macros.h"
#include "statestore/cli/version_output.h"

namespace midwife::statestore::cli {
namespace {

constexpr char kDefaultAdminTokenFile[] = "data/statestore/admin.token";

absl::StatusOr<v1::BackupKind> KindFromName(const std::string& name) {
  if (name.empty()) return v1::BACKUP_KIND_UNSPECIFIED;
  ASSIGN_OR_RETURN(StateKind kind, ParseStateKind(name));
  switch (kind) {
    case StateKind::kEsxiState: return v1::BACKUP_KIND_ESXI_STATE;
    case StateKind::kEsxiConfigBundle: return v1::BACKUP_KIND_ESXI_CONFIG_BUNDLE;
    case StateKind::kPlainTarball: return v1::BACKUP_KIND_PLAIN_TARBALL;
  }
  return v1::BACKUP_KIND_UNSPECIFIED;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& label : labels) {
    size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--label \"", label, "\": expected key=value"));
    }
    out[label.substr(0, eq)] = label.substr(eq + 1);
  }
  return out;
}

void PrintVersion(const v1::VersionInfo& info, bool json) {
  if (json) {
    std::cout << ToJson(info).dump(2) << "\n";
  } else {
    std::cout << VersionTable({info});
  }
}

absl::Status WriteOutput(const std::string& out, const std::string& bytes) {
  if (out == "-") {
    std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::cout.flush();
    return std::cout ? absl::OkStatus() : absl::InternalError("cannot write to stdout");
  }
  return WriteFileAtomically(out, bytes, 0600);
}

}  // namespace

absl::StatusOr<std::string> ResolveToken(const std::string& token, const std::string& token_file) {
  if (!token.empty()) return token;
  if (!token_file.empty()) return ReadSecretFile(token_file);
  if (const char* env = std::getenv("MIDWIFE_TOKEN"); env != nullptr && *env != '\0') return env;
  if (::access(kDefaultAdminTokenFile, R_OK) == 0) return ReadSecretFile(kDefaultAdminTokenFile);
  return absl::UnauthenticatedError(
      "no token: give --token, --token-file or $MIDWIFE_TOKEN (the admin token is in "
      "<data>/admin.token of the server)");
}

absl::Status RunClientCommand(const ClientCommand& c, StateStoreClient& client) {
  const std::string& n = c.name;
  if (n == "backup") {
    ASSIGN_OR_RETURN(std::string archive, ReadFile(c.file, 1ull << 30));
    ASSIGN_OR_RETURN(v1::BackupKind kind, KindFromName(c.kind));
    ASSIGN_OR_RETURN(auto labels, ParseLabels(c.labels));
    ASSIGN_OR_RETURN(auto response, client.Backup(c.mac, archive, kind, labels, c.expected_version));
    if (c.json) {
      nlohmann::json j = ToJson(response.version());
      j["created_new_version"] = response.created();
      std::cout << j.dump(2) << "\n";
    } else {
      if (!response.created()) std::cout << "unchanged: identical to the newest version\n";
      std::cout << VersionTable({response.version()});
    }
  } else if (n == "restore") {
    ASSIGN_OR_RETURN(RestoredBackup restored, client.Restore(c.mac, c.version));
    RETURN_IF_ERROR(WriteOutput(c.out, restored.archive));
    if (c.out != "-") PrintVersion(restored.info, c.json);
  } else if (n == "versions") {
    ASSIGN_OR_RETURN(auto versions, client.ListVersions(c.mac));
    if (c.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& v : versions) j.push_back(ToJson(v));
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << VersionTable(versions);
    }
  } else if (n == "hosts") {
    std::vector<v1::HostSummary> hosts;
    std::string token;
    do {
      ASSIGN_OR_RETURN(auto page, client.ListHosts(c.page_size, token));
      hosts.insert(hosts.end(), page.hosts().begin(), page.hosts().end());
      token = page.next_page_token();
    } while (!token.empty());
    if (c.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& h : hosts) j.push_back(ToJson(h));
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << HostTable(hosts);
    }
  } else if (n == "stat") {
    ASSIGN_OR_RETURN(auto info, client.Stat(c.mac));
    PrintVersion(info, c.json);
  } else if (n == "delete") {
    ASSIGN_OR_RETURN(uint32_t deleted, client.DeleteHost(c.mac));
    if (c.json) {
      std::cout << nlohmann::json{{"deleted_versions", deleted}}.dump(2) << "\n";
    } else {
      std::cout << "deleted " << deleted << " version(s) of " << c.mac << "\n";
    }
  } else if (n == "pin") {
    ASSIGN_OR_RETURN(auto info, client.Pin(c.mac, c.version, !c.unpin));
    PrintVersion(info, c.json);
  } else if (n == "copy") {
    ASSIGN_OR_RETURN(auto info, client.Copy(c.from_mac, c.to_mac, c.version));
    PrintVersion(info, c.json);
  } else if (n == "token") {
    ASSIGN_OR_RETURN(std::string token, client.IssueHostToken(c.mac));
    if (c.json) {
      std::cout << nlohmann::json{{"mac", c.mac}, {"token", token}}.dump(2) << "\n";
    } else {
      std::cout << token << "\n";
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown command ", n));
  }
  return absl::OkStatus();
}

}  // namespace midwife::statestore::cli
