#ifndef MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_
#define MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_

#include <atomic>

#include "proto/statestore.grpc.pb.h"
#include "statestore/authorizer.h"
#include "statestore/backup_store.h"
#include "statestore/blocking_pool.h"
#include "statestore/call_watchdog.h"
#include "statestore/change_hub.h"

namespace midwife::statestore {

// The gRPC adapter: parses MACs, authorizes, moves bytes between streams and
// the BackupStore, and maps errors. No logic of its own.
//
// Every method but WatchChanges is served through gRPC's callback API, on
// gRPC's own threads, without the hand-off to a worker thread per call of
// the sync API. Reactions never block: calls that commit (Backup, DeleteHost,
// Pin, Copy) run their store call on `blocking`, whose threads may wait for
// the synced write (and share its fsync); reads run in the reaction itself.
class StateStoreService final
    : public v1::StateStore::WithCallbackMethod_Backup<v1::StateStore::WithCallbackMethod_Restore<
          v1::StateStore::WithCallbackMethod_Stat<v1::StateStore::WithCallbackMethod_ListVersions<
              v1::StateStore::WithCallbackMethod_ListHosts<
                  v1::StateStore::WithCallbackMethod_DeleteHost<
                      v1::StateStore::WithCallbackMethod_Pin<
                          v1::StateStore::WithCallbackMethod_Copy<
                              v1::StateStore::WithCallbackMethod_IssueHostToken<
                                  v1::StateStore::Service>>>>>>>>> {
 public:
  // All must outlive the service. At most `max_backups` Backup calls are
  // open at once (each holds its archive in memory); more are refused with
  // RESOURCE_EXHAUSTED, which the client library retries.
  StateStoreService(BackupStore& store, const Authorizer& authorizer, uint64_t max_backup_bytes,
                    CallWatchdog& watchdog, ChangeHub& changes, BlockingPool& blocking,
                    int max_backups)
      : store_(store),
        authorizer_(authorizer),
        max_backup_bytes_(max_backup_bytes),
        watchdog_(watchdog),
        changes_(changes),
        blocking_(blocking),
        max_backups_(max_backups) {}

  grpc::ServerReadReactor<v1::BackupRequest>* Backup(grpc::CallbackServerContext* context,
                                                     v1::BackupResponse* response) override;
  grpc::ServerWriteReactor<v1::RestoreResponse>* Restore(
      grpc::CallbackServerContext* context, const v1::RestoreRequest* request) override;
  grpc::ServerUnaryReactor* Stat(grpc::CallbackServerContext* context,
                                 const v1::StatRequest* request,
                                 v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* ListVersions(grpc::CallbackServerContext* context,
                                         const v1::ListVersionsRequest* request,
                                         v1::ListVersionsResponse* response) override;
  grpc::ServerUnaryReactor* ListHosts(grpc::CallbackServerContext* context,
                                      const v1::ListHostsRequest* request,
                                      v1::ListHostsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteHost(grpc::CallbackServerContext* context,
                                       const v1::DeleteHostRequest* request,
                                       v1::DeleteHostResponse* response) override;
  grpc::ServerUnaryReactor* Pin(grpc::CallbackServerContext* context, const v1::PinRequest* request,
                                v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* Copy(grpc::CallbackServerContext* context,
                                 const v1::CopyRequest* request,
                                 v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* IssueHostToken(grpc::CallbackServerContext* context,
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
  BlockingPool& blocking_;
  const int max_backups_;
  std::atomic<int> open_backups_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_STATE_STORE_SERVICE_H_
