#include "statestore/client_call.h"

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "statestore/grpc_status.h"

namespace midwife::statestore {
namespace {

// One 1 MiB chunk plus framing; matches the server's bound.
constexpr int kMaxMessageBytes = 4 << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ClientOptions& options) {
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
  // gRPC's default reconnect backoff grows to 120 s: a boot server whose
  // store restarted mid-storm would turn hosts away for minutes after the
  // store is back. Retry the connection at least every second instead.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC also takes this one as the connect timeout: at a tenth of a second
  // a TLS handshake with a busy store was cut off ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(options.server, credentials, args);
}

std::unique_ptr<grpc::ClientContext> CallRunner::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + options_.deadline);
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  return context;
}

absl::Status CallRunner::Run(const std::function<grpc::Status()>& call, Retry retry) const {
  auto backoff = std::chrono::milliseconds(20);
  for (int attempt = 1;; ++attempt) {
    attempts_.fetch_add(1, std::memory_order_relaxed);
    grpc::Status status = call();
    bool transient =
        status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
        (retry == Retry::kTransient && status.error_code() == grpc::StatusCode::UNAVAILABLE);
    if (!transient || attempt >= options_.max_attempts) return Result(status);
    thread_local std::mt19937 jitter(std::random_device{}());
    std::uniform_int_distribution<int64_t> spread(backoff.count() / 2, backoff.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(spread(jitter)));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

absl::Status CallRunner::Result(const grpc::Status& status) const {
  absl::Status out = FromGrpcStatus(status);
  // "Connection refused" alone does not say which server a CLI user typed.
  if (out.code() != absl::StatusCode::kUnavailable) return out;
  return absl::UnavailableError(
      absl::StrCat("state store at ", options_.server, ": ", out.message()));
}

}  // namespace midwife::statestore
