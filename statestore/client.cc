#include "statestore/client.h"

#include <grpcpp/grpcpp.h>

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "statestore/grpc_status.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {
namespace {

constexpr int kMaxMessageBytes = 4 << 20;

}  // namespace

absl::Status StateStoreClient::WithRetries(const std::function<grpc::Status()>& call) const {
  std::mt19937 jitter(std::random_device{}());
  auto backoff = std::chrono::milliseconds(20);
  for (int attempt = 1;; ++attempt) {
    grpc::Status status = call();
    bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    if (!transient || attempt >= options_.max_attempts) return Result(status);
    std::uniform_int_distribution<int64_t> spread(backoff.count() / 2, backoff.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(spread(jitter)));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

absl::Status StateStoreClient::Result(const grpc::Status& status) const {
  absl::Status out = FromGrpcStatus(status);
  // "Connection refused" alone does not say which server a CLI user typed.
  if (out.code() != absl::StatusCode::kUnavailable) return out;
  return absl::UnavailableError(
      absl::StrCat("state store at ", options_.server, ": ", out.message()));
}

absl::StatusOr<std::unique_ptr<StateStoreClient>> StateStoreClient::Connect(
    const ClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty() && options.tls_cert_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_ca_file, 1 << 20));
    }
    if (!options.tls_cert_file.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(options.tls_cert_file, 1 << 20));
      ASSIGN_OR_RETURN(ssl.pem_private_key, ReadSecretFile(options.tls_key_file));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  auto channel = grpc::CreateCustomChannel(options.server, credentials, args);
  return std::unique_ptr<StateStoreClient>(new StateStoreClient(options, std::move(channel)));
}

StateStoreClient::StateStoreClient(const ClientOptions& options,
                                   std::shared_ptr<grpc::Channel> channel)
    : options_(options), stub_(v1::StateStore::NewStub(channel)) {}

std::unique_ptr<grpc::ClientContext> StateStoreClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + options_.deadline);
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  return context;
}

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
    bool open = writer->Write(header_message);
    v1::BackupRequest chunk;
    for (size_t offset = 0; open && offset < archive.size(); offset += keys::kChunkBytes) {
      chunk.set_chunk(std::string(archive.substr(offset, keys::kChunkBytes)));
      open = writer->Write(chunk);
    }
    writer->WritesDone();
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
      } else {
        out.archive += message.chunk();
      }
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

}  // namespace midwife::statestore
