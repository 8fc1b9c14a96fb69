#include "statestore/state_store_service.h"

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "statestore/call_auth.h"
#include "statestore/grpc_status.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {

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

  std::string archive;
  while (reader->Read(&message)) {
    if (!message.has_chunk()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a Backup stream has one header, then only chunks");
    }
    if (archive.size() + message.chunk().size() > max_backup_bytes_) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("backup exceeds the limit of ", max_backup_bytes_,
                                       " bytes; nothing stored"));
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

grpc::Status StateStoreService::Restore(grpc::ServerContext* context,
                                        const v1::RestoreRequest* request,
                                        grpc::ServerWriter<v1::RestoreResponse>* writer) {
  CallWatchdog::Guard watched(watchdog_, context);
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), true);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto restored = store_.Restore(*mac, request->version());
  if (!restored.ok()) return ToGrpcStatus(restored.status());
  v1::RestoreResponse out;
  *out.mutable_info() = restored->info;
  if (!writer->Write(out)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  const std::string& bytes = restored->archive;
  for (size_t offset = 0; offset < bytes.size(); offset += keys::kChunkBytes) {
    out.set_chunk(bytes.substr(offset, keys::kChunkBytes));
    if (!writer->Write(out)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

grpc::Status StateStoreService::Stat(grpc::ServerContext* context, const v1::StatRequest* request,
                                     v1::VersionInfo* response) {
  auto mac = AuthorizeHost(*context, authorizer_, "mac", request->mac(), true);
  if (!mac.ok()) return ToGrpcStatus(mac.status());
  auto info = store_.Stat(*mac);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response = *std::move(info);
  return grpc::Status::OK;
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

}  // namespace midwife::statestore
