#include "statestore/host_registry_service.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "statestore/call_auth.h"
#include "statestore/grpc_status.h"

namespace midwife::statestore {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

// The newest event says what a change did, in the words the history keeps.
std::string LastReason(const v1::HostRecord& record) {
  return record.events().empty() ? "" : record.events(record.events_size() - 1).reason();
}

void LogChange(std::string_view event, const absl::StatusOr<v1::HostRecord>& record) {
  if (!record.ok()) return;
  LogEvent(event, {{"mac", record->mac()},
                   {"active", record->active().image()},
                   {"alternate", record->alternate().image()},
                   {"alternate_state", std::string(BootStateName(record->alternate().state()))},
                   {"reason", LastReason(*record)}});
}

}  // namespace

absl::Status HostRegistryService::CompleteDecision(const MacAddress& mac,
                                                   const v1::BootRequest& request,
                                                   v1::BootDecision& decision,
                                                   size_t& inline_budget) {
  auto primary = MacAddress::Parse(decision.mac());
  if (primary.ok()) decision.set_host_token(authorizer_.host_tokens().TokenFor(*primary));
  // Filled afresh even when the decision is a replay: it is a read, not part
  // of what the boot recorded. A host whose stored state cannot be read is
  // not booted without it (it would come up blank and upload that).
  if (!decision.discovered()) {
    auto newest = backups_.Stat(mac);
    if (newest.ok()) {
      if (newest->size() <= request.inline_state_max_bytes() && newest->size() <= inline_budget &&
          newest->sha256() != request.known_state_sha256()) {
        // Restore checks the digest; a version pruned meanwhile is simply not inlined.
        auto restored = backups_.Restore(mac, newest->version());
        if (restored.ok()) {
          inline_budget -= restored->archive.size();
          decision.set_newest_state_archive(std::move(restored->archive));
        }
      }
      *decision.mutable_newest_state() = *std::move(newest);
    } else if (!absl::IsNotFound(newest.status())) {
      return newest.status();
    }
  }
  LogEvent("host.boot", {{"mac", mac.ToString()},
                         {"host", decision.mac()},
                         {"address", request.facts().address()},
                         {"image", decision.image()},
                         {"bank", decision.bank()},
                         {"bootstate", std::string(BootStateName(decision.bootstate()))},
                         {"fallback", decision.fallback() ? "true" : "false"},
                         {"discovered", decision.discovered() ? "true" : "false"},
                         {"reason", decision.reason()}});
  return absl::OkStatus();
}

grpc::Status HostRegistryService::BeginBoot(grpc::ServerContext* context,
                                            const v1::BootRequest* request,
                                            v1::BootDecision* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto decision = registry_.BeginBoot(*mac, request->facts(), request->boot_id());
  if (!decision.ok()) return ToGrpcStatus(decision.status());
  size_t unbounded = SIZE_MAX;
  if (absl::Status st = CompleteDecision(*mac, *request, *decision, unbounded); !st.ok()) {
    return ToGrpcStatus(st);
  }
  *response = *std::move(decision);
  return grpc::Status::OK;
}

grpc::Status HostRegistryService::BeginBoots(grpc::ServerContext* context,
                                             const v1::BootRequests* request,
                                             v1::BootOutcomes* response) {
  // Boots are the boot servers' business: the admin token, as for BeginBoot.
  if (absl::Status st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  if (request->requests_size() > kMaxBootsPerCall) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("BeginBoots carries ", request->requests_size(),
                                     " boots; at most ", kMaxBootsPerCall));
  }
  std::vector<absl::Status> refused(request->requests_size());
  std::vector<HostRegistry::BootItem> items;
  std::vector<int> item_of_request(request->requests_size(), -1);
  for (int i = 0; i < request->requests_size(); ++i) {
    const v1::BootRequest& r = request->requests(i);
    auto mac = AuthorizeHost(*context, authorizer_, "mac", r.mac(), false);
    if (!mac.ok()) {
      refused[i] = mac.status();
      continue;
    }
    item_of_request[i] = static_cast<int>(items.size());
    items.push_back({*mac, r.facts(), r.boot_id()});
  }
  std::vector<absl::StatusOr<v1::BootDecision>> decisions = registry_.BeginBoots(items);
  // Inlined states stop where the answer would outgrow a message; those
  // hosts' boot servers Restore them instead.
  size_t inline_budget = kInlineStateBudget;
  for (int i = 0; i < request->requests_size(); ++i) {
    v1::BootOutcome& outcome = *response->add_outcomes();
    absl::Status st = refused[i];
    if (st.ok()) {
      absl::StatusOr<v1::BootDecision>& decision = decisions[item_of_request[i]];
      st = decision.status();
      if (st.ok()) {
        st = CompleteDecision(items[item_of_request[i]].mac, request->requests(i), *decision,
                              inline_budget);
      }
      if (st.ok()) *outcome.mutable_decision() = *std::move(decision);
    }
    outcome.set_code(static_cast<int32_t>(st.code()));
    outcome.set_message(std::string(st.message()));
  }
  return grpc::Status::OK;
}

grpc::Status HostRegistryService::ReportBirth(grpc::ServerContext* context,
                                              const v1::ReportBirthRequest* request,
                                              v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), true);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  BirthReport report{request->image(), request->build(), request->ok(), request->message()};
  auto record = registry_.ReportBirth(*mac, report, request->address(), request->phases());
  LogChange("host.report", record);
  return Reply(std::move(record), response);
}

grpc::Status HostRegistryService::Assign(grpc::ServerContext* context,
                                         const v1::AssignRequest* request,
                                         v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto record = registry_.Assign(*mac, request->image());
  LogChange("host.assign", record);
  return Reply(std::move(record), response);
}

grpc::Status HostRegistryService::Unassign(grpc::ServerContext* context,
                                           const v1::UnassignRequest* request,
                                           v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto record = registry_.Unassign(*mac);
  LogChange("host.unassign", record);
  return Reply(std::move(record), response);
}

grpc::Status HostRegistryService::Rollback(grpc::ServerContext* context,
                                           const v1::RollbackRequest* request,
                                           v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto record = registry_.Rollback(*mac);
  LogChange("host.rollback", record);
  return Reply(std::move(record), response);
}

grpc::Status HostRegistryService::RecordEvent(grpc::ServerContext* context,
                                              const v1::RecordEventRequest* request,
                                              v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  return Reply(registry_.RecordEvent(*mac, *request), response);
}

grpc::Status HostRegistryService::AddAlias(grpc::ServerContext* context,
                                           const v1::AddAliasRequest* request,
                                           v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto alias = AuthorizeHost(*context, authorizer_, "alias_mac", request->alias_mac(), false);
  if (!alias.ok()) return ToGrpcStatus(alias.status());
  auto record = registry_.AddAlias(*mac, *alias);
  LogChange("host.alias", record);
  return Reply(std::move(record), response);
}

grpc::Status HostRegistryService::GetHost(grpc::ServerContext* context,
                                          const v1::GetHostRequest* request,
                                          v1::HostRecord* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  return Reply(registry_.GetHost(*mac), response);
}

grpc::Status HostRegistryService::ListHosts(grpc::ServerContext* context,
                                            const v1::ListHostRecordsRequest* request,
                                            v1::ListHostRecordsResponse* response) {
  if (auto st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  auto page = registry_.ListHosts(request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& host : page->hosts) *response->add_hosts() = std::move(host);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status HostRegistryService::ListEvents(grpc::ServerContext* context,
                                             const v1::ListEventsRequest* request,
                                             v1::ListEventsResponse* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto events = registry_.ListEvents(*mac, request->limit());
  if (!events.ok()) return ToGrpcStatus(events.status());
  for (auto& event : *events) *response->add_events() = std::move(event);
  return grpc::Status::OK;
}

grpc::Status HostRegistryService::SetRules(grpc::ServerContext* context,
                                           const v1::SetRulesRequest* request,
                                           v1::RuleSet* response) {
  if (auto st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  v1::RuleSet rules;
  *rules.mutable_rules() = request->rules();
  std::optional<uint64_t> expected;
  if (request->has_expected_generation()) expected = request->expected_generation();
  auto stored = registry_.SetRules(rules, expected);
  if (stored.ok()) {
    LogEvent("rules.set", {{"generation", std::to_string(stored->generation())},
                           {"rules", std::to_string(stored->rules_size())}});
  }
  return Reply(std::move(stored), response);
}

grpc::Status HostRegistryService::GetRules(grpc::ServerContext* context,
                                           const v1::GetRulesRequest* /*request*/,
                                           v1::RuleSet* response) {
  if (auto st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  return Reply(registry_.GetRules(), response);
}

}  // namespace midwife::statestore
