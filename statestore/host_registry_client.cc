#include "statestore/host_registry_client.h"

#include <random>

#include "absl/strings/str_format.h"

namespace midwife::statestore {
namespace {

std::string RandomBootId() {
  std::random_device random;
  return absl::StrFormat("%08x%08x%08x%08x", random(), random(), random(), random());
}

}  // namespace

absl::StatusOr<std::unique_ptr<HostRegistryClient>> HostRegistryClient::Connect(
    const ClientOptions& options) {
  ASSIGN_OR_RETURN(auto channel, OpenChannel(options));
  return std::unique_ptr<HostRegistryClient>(new HostRegistryClient(options, channel));
}

absl::StatusOr<v1::BootDecision> HostRegistryClient::BeginBoot(v1::BootRequest request) {
  if (request.boot_id().empty()) request.set_boot_id(RandomBootId());
  return Call(&v1::HostRegistry::Stub::BeginBoot, request);
}

absl::StatusOr<v1::BootOutcomes> HostRegistryClient::BeginBoots(v1::BootRequests requests) {
  for (v1::BootRequest& request : *requests.mutable_requests()) {
    if (request.boot_id().empty()) request.set_boot_id(RandomBootId());
  }
  return Call(&v1::HostRegistry::Stub::BeginBoots, requests);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::ReportBirth(
    const v1::ReportBirthRequest& request) {
  return Call(&v1::HostRegistry::Stub::ReportBirth, request);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::Assign(const std::string& mac,
                                                          const std::string& image) {
  v1::AssignRequest request;
  request.set_mac(mac);
  request.set_image(image);
  return Call(&v1::HostRegistry::Stub::Assign, request);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::Unassign(const std::string& mac) {
  v1::UnassignRequest request;
  request.set_mac(mac);
  return Call(&v1::HostRegistry::Stub::Unassign, request);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::RecordEvent(const v1::RecordEventRequest& request) {
  return Call(&v1::HostRegistry::Stub::RecordEvent, request, CallRunner::Retry::kNotApplied);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::Rollback(const std::string& mac) {
  v1::RollbackRequest request;
  request.set_mac(mac);
  // A second flip would undo the first.
  return Call(&v1::HostRegistry::Stub::Rollback, request, CallRunner::Retry::kNotApplied);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::AddAlias(const std::string& mac,
                                                            const std::string& alias_mac) {
  v1::AddAliasRequest request;
  request.set_mac(mac);
  request.set_alias_mac(alias_mac);
  return Call(&v1::HostRegistry::Stub::AddAlias, request);
}

absl::StatusOr<v1::HostRecord> HostRegistryClient::GetHost(const std::string& mac) {
  v1::GetHostRequest request;
  request.set_mac(mac);
  return Call(&v1::HostRegistry::Stub::GetHost, request);
}

absl::StatusOr<v1::ListHostRecordsResponse> HostRegistryClient::ListHosts(
    uint32_t page_size, const std::string& page_token) {
  v1::ListHostRecordsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return Call(&v1::HostRegistry::Stub::ListHosts, request);
}

absl::StatusOr<std::vector<v1::HostEvent>> HostRegistryClient::ListEvents(const std::string& mac,
                                                                          uint32_t limit) {
  v1::ListEventsRequest request;
  request.set_mac(mac);
  request.set_limit(limit);
  ASSIGN_OR_RETURN(v1::ListEventsResponse response,
                   Call(&v1::HostRegistry::Stub::ListEvents, request));
  return std::vector<v1::HostEvent>(response.events().begin(), response.events().end());
}

absl::StatusOr<v1::RuleSet> HostRegistryClient::SetRules(
    const std::vector<v1::Rule>& rules, std::optional<uint64_t> expected_generation) {
  v1::SetRulesRequest request;
  for (const auto& rule : rules) *request.add_rules() = rule;
  if (expected_generation) request.set_expected_generation(*expected_generation);
  return Call(&v1::HostRegistry::Stub::SetRules, request);
}

absl::StatusOr<v1::RuleSet> HostRegistryClient::GetRules() {
  return Call(&v1::HostRegistry::Stub::GetRules, v1::GetRulesRequest());
}

}  // namespace midwife::statestore
