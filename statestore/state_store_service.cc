#include "statestore/state_store_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "statestore/call_auth.h"
#include "statestore/grpc_status.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {
namespace {

grpc::Status TooLarge(uint64_t limit) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("backup exceeds the limit of ", limit, " bytes; nothing stored"));
}

// Streams one restored version: the info and the first chunk share a
// message, and the last message goes out with the status, so a state of up
// to one chunk is a single write. Deletes itself when gRPC is done with it.
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
    const std::string& bytes = restored_.archive;
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

grpc::Status StateStoreService::Backup(grpc::ServerContext* context,
                                       grpc::ServerReader<v1::BackupRequest>* reader,
                                       v1::BackupResponse* response) {
  CallWatchdog::Guard watched(watchdog_, context);
  v1::BackupRequest message;
  if (!reader->Read(&message) || !message.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a Backup stream must start with a header message");
  }
  const v1::BackupHeader header = message.header();
  auto mac = AuthorizeHost(*context, authorizer_, "header.mac", header.mac(), true);
  if (!mac.ok()) return ToGrpcStatus(mac.status());

  std::string archive = std::move(*message.mutable_chunk());
  if (archive.size() > max_backup_bytes_) return TooLarge(max_backup_bytes_);
  while (reader->Read(&message)) {
    if (message.has_header()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a Backup stream has one header, in its first message");
    }
    if (archive.size() + message.chunk().size() > max_backup_bytes_) {
      return TooLarge(max_backup_bytes_);
    }
    archive += message.chunk();
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away; nothing stored");
  }
  const size_t bytes = archive.size();
  auto result = store_.Backup(*mac, header, std::move(archive));
  if (!result.ok()) {
    LogEvent("backup.refused", {{"mac", mac->ToString()},
                                {"bytes", std::to_string(bytes)},
                                {"code", absl::StatusCodeToString(result.status().code())},
                                {"reason", std::string(result.status().message())}});
    return ToGrpcStatus(result.status());
  }
  LogEvent("backup", {{"mac", mac->ToString()},
                      {"version", std::to_string(result->version.version())},
                      {"bytes", std::to_string(bytes)},
                      {"created", result->created ? "true" : "false"}});
  *response->mutable_version() = result->version;
  response->set_created(result->created);
  return grpc::Status::OK;
}

// Restore and Stat are short reads: served on gRPC's own threads through the
// callback API, without the hand-off to a worker thread of the sync API,
// which cost more than the read itself.
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
  auto info = mac.ok() ? store_.Stat(*mac) : absl::StatusOr<v1::VersionInfo>(mac.status());
  if (info.ok()) *response = *std::move(info);
  reactor->Finish(info.ok() ? grpc::Status::OK : ToGrpcStatus(info.status()));
  return reactor;
}

grpc::Status StateStoreService::ListVersions(grpc::ServerContext* context,
                                             const v1::ListVersionsRequest* request,
                                             v1::ListVersionsResponse* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto versions = store_.ListVersions(*mac);
  if (!versions.ok()) return ToGrpcStatus(versions.status());
  for (auto& v : *versions) *response->add_versions() = std::move(v);
  return grpc::Status::OK;
}

grpc::Status StateStoreService::ListHosts(grpc::ServerContext* context,
                                          const v1::ListHostsRequest* request,
                                          v1::ListHostsResponse* response) {
  if (auto st = AuthorizeAdmin(*context, authorizer_); !st.ok()) return ToGrpcStatus(st);
  auto page = store_.ListHosts(request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& h : page->hosts) *response->add_hosts() = std::move(h);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status StateStoreService::DeleteHost(grpc::ServerContext* context,
                                           const v1::DeleteHostRequest* request,
                                           v1::DeleteHostResponse* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto deleted = store_.DeleteHost(*mac);
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  LogEvent("host.deleted", {{"mac", mac->ToString()}, {"versions", std::to_string(*deleted)}});
  response->set_deleted_versions(*deleted);
  return grpc::Status::OK;
}

grpc::Status StateStoreService::Pin(grpc::ServerContext* context, const v1::PinRequest* request,
                                    v1::VersionInfo* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto info = store_.Pin(*mac, request->version(), request->pinned());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status StateStoreService::Copy(grpc::ServerContext* context, const v1::CopyRequest* request,
                                     v1::VersionInfo* response) {
  auto from = AuthorizeHost(*context, authorizer_, "from_mac", request->from_mac(), false);
  if (!from.ok()) return ToGrpcStatus(from.status());
  auto to = AuthorizeHost(*context, authorizer_, "to_mac", request->to_mac(), false);
  if (!to.ok()) return ToGrpcStatus(to.status());
  auto info = store_.Copy(*from, *to, request->version());
  if (!info.ok()) return ToGrpcStatus(info.status());
  LogEvent("host.copied", {{"from", from->ToString()},
                           {"to", to->ToString()},
                           {"version", std::to_string(info->version())}});
  *response = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status StateStoreService::IssueHostToken(grpc::ServerContext* context,
                                               const v1::IssueHostTokenRequest* request,
                                               v1::IssueHostTokenResponse* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), false);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  response->set_token(authorizer_.host_tokens().TokenFor(*mac));
  return grpc::Status::OK;
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
