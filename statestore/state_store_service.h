#ifndef MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_
#define MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_

#include "proto/statestore.grpc.pb.h"
#include "statestore/authorizer.h"
#include "statestore/backup_store.h"
#include "statestore/call_watchdog.h"
#include "statestore/change_hub.h"

namespace midwife::statestore {

// The gRPC adapter: parses MACs, authorizes, moves bytes between streams and
// the BackupStore, and maps errors. No logic of its own.
class StateStoreService final
    : public v1::StateStore::WithCallbackMethod_Restore<
          v1::StateStore::WithCallbackMethod_Stat<v1::StateStore::Service>> {
 public:
  // All must outlive the service.
  StateStoreService(BackupStore& store, const Authorizer& authorizer, uint64_t max_backup_bytes,
                    CallWatchdog& watchdog, ChangeHub& changes)
      : store_(store), authorizer_(authorizer), max_backup_bytes_(max_backup_bytes),
        watchdog_(watchdog), changes_(changes) {}

  grpc::Status Backup(grpc::ServerContext* context,
                      grpc::ServerReader<v1::BackupRequest>* reader,
                      v1::BackupResponse* response) override;
  grpc::ServerWriteReactor<v1::RestoreResponse>* Restore(
      grpc::CallbackServerContext* context, const v1::RestoreRequest* request) override;
  grpc::ServerUnaryReactor* Stat(grpc::CallbackServerContext* context,
                                 const v1::StatRequest* request,
                                 v1::VersionInfo* response) override;
  grpc::Status ListVersions(grpc::ServerContext* context, const v1::ListVersionsRequest* request,
                            v1::ListVersionsResponse* response) override;
  grpc::Status ListHosts(grpc::ServerContext* context, const v1::ListHostsRequest* request,
                         v1::ListHostsResponse* response) override;
  grpc::Status DeleteHost(grpc::ServerContext* context, const v1::DeleteHostRequest* request,
                          v1::DeleteHostResponse* response) override;
  grpc::Status Pin(grpc::ServerContext* context, const v1::PinRequest* request,
                   v1::VersionInfo* response) override;
  grpc::Status Copy(grpc::ServerContext* context, const v1::CopyRequest* request,
                    v1::VersionInfo* response) override;
  grpc::Status IssueHostToken(grpc::ServerContext* context,
                              const v1::IssueHostTokenRequest* request,
                              v1::IssueHostTokenResponse* response) override;
  // Holds one RPC thread per watcher (boot servers: one stream each).
  grpc::Status WatchChanges(grpc::ServerContext* context, const v1::WatchChangesRequest* request,
                            grpc::ServerWriter<v1::Change>* writer) override;

 private:
  BackupStore& store_;
  const Authorizer& authorizer_;
  uint64_t max_backup_bytes_;
  CallWatchdog& watchdog_;
  ChangeHub& changes_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_
