#include "statestore/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "statestore/grpc_status.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {

absl::StatusOr<std::unique_ptr<StateStoreClient>> StateStoreClient::Connect(
    const ClientOptions& options) {
  ASSIGN_OR_RETURN(auto channel, OpenChannel(options));
  return std::unique_ptr<StateStoreClient>(new StateStoreClient(options, std::move(channel)));
}

StateStoreClient::StateStoreClient(const ClientOptions& options,
                                   std::shared_ptr<grpc::Channel> channel)
    : runner_(options), stub_(v1::StateStore::NewStub(channel)) {}

absl::StatusOr<v1::BackupResponse> StateStoreClient::Backup(
    const std::string& mac, std::string_view archive, v1::BackupKind kind,
    const std::map<std::string, std::string>& labels, std::optional<uint64_t> expected_version) {
  v1::BackupRequest header_message;
  v1::BackupHeader& header = *header_message.mutable_header();
  header.set_mac(mac);
  header.set_kind(kind);
  for (const auto& [k, v] : labels) (*header.mutable_labels())[k] = v;
  if (expected_version) header.set_expected_version(*expected_version);
  v1::BackupResponse response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    auto writer = stub_->Backup(context.get(), &response);
    // The header travels with the first chunk, and the last message with the
    // end of the stream: a state of up to one chunk is a single write.
    v1::BackupRequest message = header_message;
    size_t offset = 0;
    bool open = true;
    bool last = false;
    do {
      message.set_chunk(std::string(archive.substr(std::min(offset, archive.size()), keys::kChunkBytes)));
      offset += keys::kChunkBytes;
      last = offset >= archive.size();
      open = writer->Write(message, last ? grpc::WriteOptions().set_last_message() : grpc::WriteOptions());
      message.clear_header();
    } while (open && !last);
    // A stream that broke before its last message still needs closing.
    if (!last) writer->WritesDone();
    return writer->Finish();
  }));
  return response;
}

absl::StatusOr<RestoredBackup> StateStoreClient::Restore(const std::string& mac, uint64_t version) {
  v1::RestoreRequest request;
  request.set_mac(mac);
  request.set_version(version);
  RestoredBackup out;
  bool have_info = false;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    auto reader = stub_->Restore(context.get(), request);
    out.archive.clear();
    have_info = false;
    v1::RestoreResponse message;
    while (reader->Read(&message)) {
      if (message.has_info()) {
        out.info = message.info();
        out.archive.reserve(out.info.size());
        have_info = true;
      }
      out.archive += message.chunk();
    }
    return reader->Finish();
  }));
  if (!have_info || out.archive.size() != out.info.size()) {
    return absl::DataLossError(absl::StrCat("restore of ", mac, " ended after ",
                                            out.archive.size(), " of ", out.info.size(), " bytes"));
  }
  return out;
}

absl::StatusOr<v1::VersionInfo> StateStoreClient::Stat(const std::string& mac) {
  v1::StatRequest request;
  request.set_mac(mac);
  v1::VersionInfo response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->Stat(context.get(), request, &response);
  }));
  return response;
}

absl::StatusOr<std::vector<v1::VersionInfo>> StateStoreClient::ListVersions(const std::string& mac) {
  v1::ListVersionsRequest request;
  request.set_mac(mac);
  v1::ListVersionsResponse response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->ListVersions(context.get(), request, &response);
  }));
  return std::vector<v1::VersionInfo>(response.versions().begin(), response.versions().end());
}

absl::StatusOr<v1::ListHostsResponse> StateStoreClient::ListHosts(uint32_t page_size,
                                                                  const std::string& page_token) {
  v1::ListHostsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  v1::ListHostsResponse response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->ListHosts(context.get(), request, &response);
  }));
  return response;
}

absl::StatusOr<uint32_t> StateStoreClient::DeleteHost(const std::string& mac) {
  v1::DeleteHostRequest request;
  request.set_mac(mac);
  v1::DeleteHostResponse response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->DeleteHost(context.get(), request, &response);
  }));
  return response.deleted_versions();
}

absl::StatusOr<v1::VersionInfo> StateStoreClient::Pin(const std::string& mac, uint64_t version,
                                                      bool pinned) {
  v1::PinRequest request;
  request.set_mac(mac);
  request.set_version(version);
  request.set_pinned(pinned);
  v1::VersionInfo response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->Pin(context.get(), request, &response);
  }));
  return response;
}

absl::StatusOr<v1::VersionInfo> StateStoreClient::Copy(const std::string& from,
                                                       const std::string& to, uint64_t version) {
  v1::CopyRequest request;
  request.set_from_mac(from);
  request.set_to_mac(to);
  request.set_version(version);
  v1::VersionInfo response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->Copy(context.get(), request, &response);
  }));
  return response;
}

absl::StatusOr<std::string> StateStoreClient::IssueHostToken(const std::string& mac) {
  v1::IssueHostTokenRequest request;
  request.set_mac(mac);
  v1::IssueHostTokenResponse response;
  RETURN_IF_ERROR(WithRetries([&] {
    auto context = NewContext();
    return stub_->IssueHostToken(context.get(), request, &response);
  }));
  return response.token();
}

void WatchCanceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (context_) context_->TryCancel();
}

absl::Status StateStoreClient::WatchChanges(
    const std::function<bool(const v1::Change&)>& on_change, WatchCanceller* canceller) {
  auto context = NewContext();
  // A watch lasts as long as the caller wants it.
  context->set_deadline(std::chrono::system_clock::time_point::max());
  // Waits out an unreachable store (see the header).
  context->set_wait_for_ready(true);
  if (canceller) {
    std::lock_guard lock(canceller->mu_);
    if (canceller->cancelled_) return absl::OkStatus();
    canceller->context_ = context.get();
  }
  auto reader = stub_->WatchChanges(context.get(), v1::WatchChangesRequest());
  v1::Change change;
  bool stopped = false;
  while (reader->Read(&change)) {
    if (!on_change(change)) {
      stopped = true;
      context->TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (canceller) {
    std::lock_guard lock(canceller->mu_);
    canceller->context_ = nullptr;
    stopped = stopped || canceller->cancelled_;
  }
  if (stopped) return absl::OkStatus();
  if (status.ok()) return absl::UnavailableError("the state store ended the watch");
  return FromGrpcStatus(status);
}

}  // namespace midwife::statestore
