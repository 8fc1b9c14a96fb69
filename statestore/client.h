#ifndef MIDWIFE_STATESTORE_CLIENT_H_
#define MIDWIFE_STATESTORE_CLIENT_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/statestore.grpc.pb.h"
#include "statestore/backup_store.h"
#include "statestore/client_call.h"

namespace midwife::statestore {

// A thin, thread-safe client of the StateStore service: one channel, errors
// as absl::Status with the server's code and message.
// Lets another thread end a StateStoreClient::WatchChanges call.
class WatchCanceller {
 public:
  void Cancel();

 private:
  friend class StateStoreClient;
  std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;  // GUARDED_BY(mu_)
  bool cancelled_ = false;                  // GUARDED_BY(mu_)
};

class StateStoreClient {
 public:
  static absl::StatusOr<std::unique_ptr<StateStoreClient>> Connect(const ClientOptions& options);

  absl::StatusOr<v1::BackupResponse> Backup(const std::string& mac, std::string_view archive,
                                            v1::BackupKind kind = v1::BACKUP_KIND_UNSPECIFIED,
                                            const std::map<std::string, std::string>& labels = {},
                                            std::optional<uint64_t> expected_version = std::nullopt);
  absl::StatusOr<RestoredBackup> Restore(const std::string& mac, uint64_t version = 0);
  absl::StatusOr<v1::VersionInfo> Stat(const std::string& mac);
  absl::StatusOr<std::vector<v1::VersionInfo>> ListVersions(const std::string& mac);
  absl::StatusOr<v1::ListHostsResponse> ListHosts(uint32_t page_size, const std::string& page_token);
  absl::StatusOr<uint32_t> DeleteHost(const std::string& mac);
  absl::StatusOr<v1::VersionInfo> Pin(const std::string& mac, uint64_t version, bool pinned);
  absl::StatusOr<v1::VersionInfo> Copy(const std::string& from, const std::string& to,
                                       uint64_t version);
  absl::StatusOr<std::string> IssueHostToken(const std::string& mac);
  // Streams the store's changes (admin token) to `on_change` until it
  // returns false or `canceller` is cancelled (then OK), or the stream fails;
  // no deadline, no retries: a watcher reconnects and reloads on RESYNC.
  // While the store is unreachable the call waits for it (gRPC
  // wait_for_ready) rather than failing at once: fail-fast calls repeated
  // while the channel reconnects were seen to cut its connection attempts
  // short ("tcp handshaker shutdown"), so a store back after 0.1 s took
  // 5 s to be watched again instead of 0.3 s.
  absl::Status WatchChanges(const std::function<bool(const v1::Change&)>& on_change,
                            WatchCanceller* canceller = nullptr);

  // Round trips to the server so far, retries included.
  uint64_t calls() const { return runner_.attempts(); }

 private:
  StateStoreClient(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<grpc::ClientContext> NewContext() const { return runner_.NewContext(); }
  absl::Status WithRetries(const std::function<grpc::Status()>& call) const {
    return runner_.Run(call);
  }

  CallRunner runner_;
  std::unique_ptr<v1::StateStore::Stub> stub_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_CLIENT_H_
