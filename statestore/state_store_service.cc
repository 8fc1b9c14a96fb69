#include "statestore/state_store_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "statestore/call_auth.h"
#include "statestore/grpc_status.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {
namespace {

grpc::Status TooLarge(uint64_t limit) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("backup exceeds the limit of ", limit, " bytes; nothing stored"));
}

// Finishes a unary call with `result`, moved into `*response` when OK.
template <typename T>
void FinishWith(grpc::ServerUnaryReactor* reactor, absl::StatusOr<T> result, T* response) {
  if (!result.ok()) {
    reactor->Finish(ToGrpcStatus(result.status()));
    return;
  }
  *response = *std::move(result);
  reactor->Finish(grpc::Status::OK);
}

// Receives one Backup stream: the header with the first chunk, then chunks,
// gathered into one archive within the size limit; then stores it on the
// blocking pool (the commit waits for its fsync) and answers from there.
// Deletes itself when gRPC is done with it.
class BackupReactor final : public grpc::ServerReadReactor<v1::BackupRequest> {
 public:
  struct Deps {
    BackupStore& store;
    const Authorizer& authorizer;
    uint64_t max_backup_bytes;
    CallWatchdog& watchdog;
    BlockingPool& blocking;
    std::atomic<int>& open_backups;
    int max_backups;
  };

  BackupReactor(const Deps& deps, grpc::CallbackServerContext* context,
                v1::BackupResponse* response)
      : deps_(deps), context_(context), response_(response), watched_(deps.watchdog, context) {
    if (deps_.open_backups.fetch_add(1, std::memory_order_relaxed) >= deps_.max_backups) {
      deps_.open_backups.fetch_sub(1, std::memory_order_relaxed);
      Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("more than ", deps_.max_backups, " backups in progress; try again")));
      return;
    }
    counted_ = true;
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndOfStream();
      return;
    }
    if (!mac_) {
      if (!message_.has_header()) {
        Answer(NoHeader());
        return;
      }
      header_ = std::move(*message_.mutable_header());
      auto mac = AuthorizeHost(*context_, deps_.authorizer, "header.mac", header_.mac(), true);
      if (!mac.ok()) {
        Answer(ToGrpcStatus(mac.status()));
        return;
      }
      mac_ = *mac;
      archive_ = std::move(*message_.mutable_chunk());
      if (archive_.size() > deps_.max_backup_bytes) {
        Answer(TooLarge(deps_.max_backup_bytes));
        return;
      }
    } else {
      if (message_.has_header()) {
        Answer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "a Backup stream has one header, in its first message"));
        return;
      }
      if (archive_.size() + message_.chunk().size() > deps_.max_backup_bytes) {
        Answer(TooLarge(deps_.max_backup_bytes));
        return;
      }
      archive_ += message_.chunk();
    }
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

 private:
  // Finishes the call. It stops counting against the limit of open backups
  // now, not when gRPC is done with it, so that a client that got its answer
  // may start the next backup at once.
  void Answer(const grpc::Status& status) {
    if (counted_) deps_.open_backups.fetch_sub(1, std::memory_order_relaxed);
    counted_ = false;
    Finish(status);
  }

  static grpc::Status NoHeader() {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a Backup stream must start with a header message");
  }

  void EndOfStream() {
    if (!mac_) {
      Answer(NoHeader());
      return;
    }
    if (context_->IsCancelled()) {
      Answer(grpc::Status(grpc::StatusCode::CANCELLED, "client went away; nothing stored"));
      return;
    }
    deps_.blocking.Run([this] { Store(); });
  }

  // On a blocking thread.
  void Store() {
    const size_t bytes = archive_.size();
    auto result = deps_.store.Backup(*mac_, header_, std::move(archive_));
    if (!result.ok()) {
      LogEvent("backup.refused", {{"mac", mac_->ToString()},
                                  {"bytes", std::to_string(bytes)},
                                  {"code", absl::StatusCodeToString(result.status().code())},
                                  {"reason", std::string(result.status().message())}});
      Answer(ToGrpcStatus(result.status()));
      return;
    }
    LogEvent("backup", {{"mac", mac_->ToString()},
                        {"version", std::to_string(result->version.version())},
                        {"bytes", std::to_string(bytes)},
                        {"created", result->created ? "true" : "false"}});
    *response_->mutable_version() = std::move(result->version);
    response_->set_created(result->created);
    Answer(grpc::Status::OK);
  }

  const Deps deps_;
  grpc::CallbackServerContext* const context_;
  v1::BackupResponse* const response_;
  CallWatchdog::Guard watched_;
  v1::BackupRequest message_;
  v1::BackupHeader header_;
  std::optional<MacAddress> mac_;  // Set once the header is authorized.
  std::string archive_;
  bool counted_ = false;  // In open_backups.
};

class RestoreReactor final : public grpc::ServerWriteReactor<v1::RestoreResponse> {
 public:
  RestoreReactor(CallWatchdog& watchdog, grpc::CallbackServerContext* context,
                 absl::StatusOr<RestoredBackup> restored)
      : watched_(watchdog, context) {
    if (!restored.ok()) {
      Finish(ToGrpcStatus(restored.status()));
      return;
    }
    restored_ = *std::move(restored);
    *message_.mutable_info() = restored_.info;
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    message_.clear_info();
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    std::string& bytes = restored_.archive;
    if (offset_ == 0 && bytes.size() <= keys::kChunkBytes) {
      // The usual state: one message, and no copy of its bytes.
      offset_ = bytes.size();
      message_.set_chunk(std::move(bytes));
      StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    }
    message_.set_chunk(bytes.substr(std::min(offset_, bytes.size()), keys::kChunkBytes));
    offset_ += keys::kChunkBytes;
    if (offset_ >= bytes.size()) {
      StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(&message_);
    }
  }

  CallWatchdog::Guard watched_;
  RestoredBackup restored_;
  v1::RestoreResponse message_;
  size_t offset_ = 0;
};

}  // namespace

grpc::ServerReadReactor<v1::BackupRequest>* StateStoreService::Backup(
    grpc::CallbackServerContext* context, v1::BackupResponse* response) {
  return new BackupReactor(
      {store_, authorizer_, max_backup_bytes_, watchdog_, blocking_, open_backups_, max_backups_},
      context, response);
}

grpc::ServerWriteReactor<v1::RestoreResponse>* StateStoreService::Restore(
    grpc::CallbackServerContext* context, const v1::RestoreRequest* request) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), true);
  if (!mac.ok()) return new RestoreReactor(watchdog_, context, mac.status());
  return new RestoreReactor(watchdog_, context, store_.Restore(*mac, request->version()));
}

grpc::ServerUnaryReactor* StateStoreService::Stat(grpc::CallbackServerContext* context,
                                                  const v1::StatRequest* request,
                                                  v1::VersionInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), true);
  FinishWith(reactor, mac.ok() ? store_.Stat(*mac) : absl::StatusOr<v1::VersionInfo>(mac.status()),
             response);
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::ListVersions(grpc::CallbackServerContext* context,
                                                          const v1::ListVersionsRequest* request,
                                                          v1::ListVersionsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  auto versions = mac.ok() ? store_.ListVersions(*mac)
                           : absl::StatusOr<std::vector<v1::VersionInfo>>(mac.status());
  if (!versions.ok()) {
    reactor->Finish(ToGrpcStatus(versions.status()));
    return reactor;
  }
  for (auto& v : *versions) *response->add_versions() = std::move(v);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::ListHosts(grpc::CallbackServerContext* context,
                                                       const v1::ListHostsRequest* request,
                                                       v1::ListHostsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status allowed = AuthorizeAdmin(*context, authorizer_);
  auto page = allowed.ok() ? store_.ListHosts(request->page_size(), request->page_token())
                           : absl::StatusOr<HostPage>(allowed);
  if (!page.ok()) {
    reactor->Finish(ToGrpcStatus(page.status()));
    return reactor;
  }
  for (auto& h : page->hosts) *response->add_hosts() = std::move(h);
  response->set_next_page_token(std::move(page->next_page_token));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::DeleteHost(grpc::CallbackServerContext* context,
                                                        const v1::DeleteHostRequest* request,
                                                        v1::DeleteHostResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) {
    reactor->Finish(ToGrpcStatus(mac.status()));
    return reactor;
  }
  blocking_.Run([this, reactor, response, mac = *mac] {
    auto deleted = store_.DeleteHost(mac);
    if (!deleted.ok()) {
      reactor->Finish(ToGrpcStatus(deleted.status()));
      return;
    }
    LogEvent("host.deleted", {{"mac", mac.ToString()}, {"versions", std::to_string(*deleted)}});
    response->set_deleted_versions(*deleted);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::Pin(grpc::CallbackServerContext* context,
                                                 const v1::PinRequest* request,
                                                 v1::VersionInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) {
    reactor->Finish(ToGrpcStatus(mac.status()));
    return reactor;
  }
  blocking_.Run([this, reactor, request, response, mac = *mac] {
    FinishWith(reactor, store_.Pin(mac, request->version(), request->pinned()), response);
  });
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::Copy(grpc::CallbackServerContext* context,
                                                  const v1::CopyRequest* request,
                                                  v1::VersionInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto from = AuthorizeHost(*context, authorizer_, "from_mac", request->from_mac(), false);
  auto to = from.ok() ? AuthorizeHost(*context, authorizer_, "to_mac", request->to_mac(), false)
                      : absl::StatusOr<MacAddress>(from.status());
  if (!to.ok()) {
    reactor->Finish(ToGrpcStatus(to.status()));
    return reactor;
  }
  blocking_.Run([this, reactor, request, response, from = *from, to = *to] {
    auto info = store_.Copy(from, to, request->version());
    if (info.ok()) {
      LogEvent("host.copied", {{"from", from.ToString()},
                               {"to", to.ToString()},
                               {"version", std::to_string(info->version())}});
    }
    FinishWith(reactor, std::move(info), response);
  });
  return reactor;
}

grpc::ServerUnaryReactor* StateStoreService::IssueHostToken(
    grpc::CallbackServerContext* context, const v1::IssueHostTokenRequest* request,
    v1::IssueHostTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (mac.ok()) response->set_token(authorizer_.host_tokens().TokenFor(*mac));
  reactor->Finish(mac.ok() ? grpc::Status::OK : ToGrpcStatus(mac.status()));
  return reactor;
}

grpc::Status StateStoreService::WatchChanges(grpc::ServerContext* context,
                                             const v1::WatchChangesRequest* /*request*/,
                                             grpc::ServerWriter<v1::Change>* writer) {
  if (auto st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  // How long a cancelled or shut-down call may go unnoticed.
  constexpr auto kCheckEvery = std::chrono::milliseconds(500);
  std::unique_ptr<ChangeHub::Watcher> watcher = changes_.Watch();
  while (!context->IsCancelled() && !changes_.closed()) {
    std::optional<v1::Change> change = watcher->Next(kCheckEvery);
    if (change && !writer->Write(*change)) break;
  }
  return grpc::Status::OK;
}

}  // namespace midwife::statestore
