#ifndef MIDWIFE_STATESTORE_CLI_VERSION_OUTPUT_H_
#define MIDWIFE_STATESTORE_CLI_VERSION_OUTPUT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/statestore.pb.h"

namespace midwife::statestore::cli {

// How the CLI shows versions and hosts: aligned tables for people, JSON
// (one document per command) for scripts.
nlohmann::json ToJson(const v1::VersionInfo& info);
nlohmann::json ToJson(const v1::HostSummary& host);
std::string VersionTable(const std::vector<v1::VersionInfo>& versions);
std::string HostTable(const std::vector<v1::HostSummary>& hosts);
std::string KindName(v1::BackupKind kind);
// "2026-11-21T22:15:03Z"
std::string FormatTime(int64_t unix_ms);

}  // namespace midwife::statestore::cli

#endif  // MIDWIFE_STATESTORE_CLI_VERSION_OUTPUT_H_
