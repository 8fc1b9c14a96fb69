#ifndef MIDWIFE_STATESTORE_HOST_REGISTRY_SERVICE_H_
#define MIDWIFE_STATESTORE_HOST_REGISTRY_SERVICE_H_

#include <cstddef>

#include "proto/hostregistry.grpc.pb.h"
#include "statestore/authorizer.h"
#include "statestore/backup_store.h"
#include "statestore/host_registry.h"

namespace midwife::statestore {

// The gRPC adapter of the HostRegistry: parses MACs, authorizes (admin token
// for everything; a host's own token also for ReportBirth of its MAC), adds
// the host token to boot decisions, logs one line per change, maps errors.
class HostRegistryService final : public v1::HostRegistry::Service {
 public:
  // All must outlive the service. `backups` answers BeginBoot's newest_state.
  HostRegistryService(HostRegistry& registry, BackupStore& backups, const Authorizer& authorizer)
      : registry_(registry), backups_(backups), authorizer_(authorizer) {}

  grpc::Status BeginBoot(grpc::ServerContext* context, const v1::BootRequest* request,
                         v1::BootDecision* response) override;
  grpc::Status BeginBoots(grpc::ServerContext* context, const v1::BootRequests* request,
                          v1::BootOutcomes* response) override;

  // Most boots one BeginBoots may carry.
  static constexpr int kMaxBootsPerCall = 256;
  // Most bytes of inlined states in one BeginBoots answer: well inside the
  // 4 MiB message limit, with room for the decisions themselves.
  static constexpr size_t kInlineStateBudget = 3 << 20;
  grpc::Status ReportBirth(grpc::ServerContext* context, const v1::ReportBirthRequest* request,
                           v1::HostRecord* response) override;
  grpc::Status Assign(grpc::ServerContext* context, const v1::AssignRequest* request,
                      v1::HostRecord* response) override;
  grpc::Status Unassign(grpc::ServerContext* context, const v1::UnassignRequest* request,
                        v1::HostRecord* response) override;
  grpc::Status RecordEvent(grpc::ServerContext* context, const v1::RecordEventRequest* request,
                           v1::HostRecord* response) override;
  grpc::Status Rollback(grpc::ServerContext* context, const v1::RollbackRequest* request,
                        v1::HostRecord* response) override;
  grpc::Status AddAlias(grpc::ServerContext* context, const v1::AddAliasRequest* request,
                        v1::HostRecord* response) override;
  grpc::Status GetHost(grpc::ServerContext* context, const v1::GetHostRequest* request,
                       v1::HostRecord* response) override;
  grpc::Status ListHosts(grpc::ServerContext* context, const v1::ListHostRecordsRequest* request,
                         v1::ListHostRecordsResponse* response) override;
  grpc::Status ListEvents(grpc::ServerContext* context, const v1::ListEventsRequest* request,
                          v1::ListEventsResponse* response) override;
  grpc::Status SetRules(grpc::ServerContext* context, const v1::SetRulesRequest* request,
                        v1::RuleSet* response) override;
  grpc::Status GetRules(grpc::ServerContext* context, const v1::GetRulesRequest* request,
                        v1::RuleSet* response) override;

 private:
  // What BeginBoot adds to the registry's decision: the host's token, its
  // newest state's metadata and (within `inline_budget`, which it lowers)
  // bytes, and the log line.
  absl::Status CompleteDecision(const MacAddress& mac, const v1::BootRequest& request,
                                v1::BootDecision& decision, size_t& inline_budget);

  HostRegistry& registry_;
  BackupStore& backups_;
  const Authorizer& authorizer_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_HOST_REGISTRY_SERVICE_H_
