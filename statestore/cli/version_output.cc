#include "statestore/cli/version_output.h"

#include <ctime>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace midwife::statestore::cli {
namespace {

std::string Labels(const v1::VersionInfo& info) {
  std::vector<std::string> parts;
  std::map<std::string, std::string> sorted(info.labels().begin(), info.labels().end());
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return absl::StrJoin(parts, ",");
}

// Renders rows with each column as wide as its widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string KindName(v1::BackupKind kind) {
  switch (kind) {
    case v1::BACKUP_KIND_ESXI_STATE: return "esxi-state";
    case v1::BACKUP_KIND_ESXI_CONFIG_BUNDLE: return "esxi-config-bundle";
    case v1::BACKUP_KIND_PLAIN_TARBALL: return "plain-tarball";
    default: return "unspecified";
  }
}

std::string FormatTime(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

nlohmann::json ToJson(const v1::VersionInfo& info) {
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : info.labels()) labels[k] = v;
  return {{"mac", info.mac()},         {"version", info.version()},
          {"created", FormatTime(info.created_unix_ms())},
          {"created_unix_ms", info.created_unix_ms()},
          {"size", info.size()},       {"sha256", info.sha256()},
          {"kind", KindName(info.kind())}, {"labels", labels},
          {"pinned", info.pinned()}};
}

nlohmann::json ToJson(const v1::HostSummary& host) {
  return {{"mac", host.mac()},
          {"newest_version", host.newest_version()},
          {"version_count", host.version_count()},
          {"updated", FormatTime(host.updated_unix_ms())}};
}

std::string VersionTable(const std::vector<v1::VersionInfo>& versions) {
  std::vector<std::vector<std::string>> rows = {
      {"MAC", "VERSION", "CREATED", "SIZE", "KIND", "SHA256", "PINNED", "LABELS"}};
  for (const auto& v : versions) {
    rows.push_back({v.mac(), std::to_string(v.version()), FormatTime(v.created_unix_ms()),
                    std::to_string(v.size()), KindName(v.kind()), v.sha256().substr(0, 16),
                    v.pinned() ? "yes" : "", Labels(v)});
  }
  return Table(rows);
}

std::string HostTable(const std::vector<v1::HostSummary>& hosts) {
  std::vector<std::vector<std::string>> rows = {{"MAC", "NEWEST", "VERSIONS", "UPDATED"}};
  for (const auto& h : hosts) {
    rows.push_back({h.mac(), std::to_string(h.newest_version()), std::to_string(h.version_count()),
                    FormatTime(h.updated_unix_ms())});
  }
  return Table(rows);
}

}  // namespace midwife::statestore::cli
