#include "statestore/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/open_file_limit.h"
#include "core/status_macros.h"
#include "statestore/authorizer.h"
#include "statestore/host_registry_service.h"
#include "statestore/key_layout.h"
#include "statestore/orphan_sweeper.h"
#include "statestore/rocksdb_engine.h"
#include "statestore/state_store_service.h"

namespace midwife::statestore {
namespace {

// gRPC frames carry at most one 1 MiB chunk plus a little framing.
constexpr int kMaxMessageBytes = 4 << 20;
constexpr auto kDrainTime = std::chrono::seconds(10);

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_cert_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    if (!options.insecure && !IsLoopbackListenAddress(options.listen)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to listen on ", options.listen,
          " without TLS: give --tls-cert/--tls-key, or --insecure to accept plaintext"));
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  ASSIGN_OR_RETURN(std::string cert, ReadFile(options.tls_cert_file, 1 << 20));
  ASSIGN_OR_RETURN(std::string key, ReadSecretFile(options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!options.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_client_ca_file, 1 << 20));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<StorageEngine>> OpenEngine(const ServerOptions& options) {
  if (options.engine == "rocksdb") {
    ASSIGN_OR_RETURN(std::unique_ptr<RocksDbEngine> engine,
                     RocksDbEngine::Open(options.data_dir + "/rocksdb",
                                         RocksDbOptions{.min_free_bytes = options.min_free_bytes}));
    return std::unique_ptr<StorageEngine>(std::move(engine));
  }
  if (options.engine != "etcd") {
    return absl::InvalidArgumentError(
        absl::StrCat("--engine must be rocksdb or etcd, not \"", options.engine, "\""));
  }
  // The last commit of a staged backup checks every chunk: one compare each.
  const uint64_t chunks = (options.store.max_backup_bytes + keys::kChunkBytes - 1) / keys::kChunkBytes;
  if (chunks + 1 > options.etcd.max_txn_ops) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-backup-bytes ", options.store.max_backup_bytes, " needs ", chunks + 1,
        " compares in one etcd transaction, above --etcd-max-txn-ops ", options.etcd.max_txn_ops,
        " (raise it together with etcd's own --max-txn-ops)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<EtcdEngine> engine, EtcdEngine::Connect(options.etcd));
  return std::unique_ptr<StorageEngine>(std::move(engine));
}

// The data folder holds the tokens and (without a state key) every host's
// state in the clear: only the store's user may enter it. A folder that
// cannot be made so (owned by another user) is refused, not used as it is.
absl::Status MakePrivateDataFolder(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  if (::chmod(dir.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot make the data folder ", dir, " mode 0700: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackListenAddress(std::string_view listen) {
  return listen.starts_with("127.") || listen.starts_with("localhost:") ||
         listen.starts_with("[::1]:") || listen.starts_with("unix:");
}

absl::Status RunServer(const ServerOptions& options) {
  const uint64_t open_files = RaiseOpenFileLimit();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  RETURN_IF_ERROR(MakePrivateDataFolder(options.data_dir));
  const std::string admin_file = options.admin_token_file.empty()
                                     ? options.data_dir + "/admin.token"
                                     : options.admin_token_file;
  const std::string secret_file = options.host_secret_file.empty()
                                      ? options.data_dir + "/host-token.secret"
                                      : options.host_secret_file;
  ASSIGN_OR_RETURN(std::string admin_token, options.admin_token_file.empty()
                                                ? ReadOrCreateSecretFile(admin_file)
                                                : ReadSecretFile(admin_file));
  ASSIGN_OR_RETURN(std::string host_secret, ReadOrCreateSecretFile(secret_file));
  ASSIGN_OR_RETURN(auto credentials, MakeCredentials(options));
  BackupStoreOptions store_options = options.store;
  ASSIGN_OR_RETURN(store_options.keys,
                   StateKeyRing::Load(options.state_key_file, options.old_state_key_files));
  ASSIGN_OR_RETURN(std::unique_ptr<StorageEngine> engine, OpenEngine(options));

  // Read before the ring moves into the store.
  const std::string state_key_id =
      store_options.keys.current() ? KeyIdHex(store_options.keys.current()->id) : "";
  if (state_key_id.empty()) {
    LogEvent("statestore.warning",
             {{"encryption_at_rest", "off"},
              {"why", "no --state-key-file: host state (password hashes, private keys) is "
                      "written to disk unencrypted"}});
  }
  BackupStore store(*engine, std::move(store_options));
  ASSIGN_OR_RETURN(AtRestCounts at_rest, store.CountAtRest());
  LogEvent("statestore.at_rest",
           {{"plaintext_versions", std::to_string(at_rest.plaintext)},
            {"current_key_versions", std::to_string(at_rest.current_key)},
            {"old_key_versions", std::to_string(at_rest.old_keys)},
            {"unreadable_versions", std::to_string(at_rest.unknown_keys)}});
  if (at_rest.unknown_keys > 0) {
    LogEvent("statestore.warning",
             {{"unreadable_versions", std::to_string(at_rest.unknown_keys)},
              {"why", "versions sealed with a key not given by --state-key-file or "
                      "--old-state-key-file; restoring them fails until it is"}});
  }
  // Only a staged backup (an engine with commit limits) can leave orphans.
  std::unique_ptr<OrphanSweeper> sweeper;
  if (engine->Limits().max_bytes != 0 && options.orphan_sweep_seconds > 0) {
    sweeper = std::make_unique<OrphanSweeper>(
        store, std::chrono::seconds(options.orphan_sweep_seconds));
  }
  Authorizer authorizer(std::move(admin_token), HostTokens(std::move(host_secret)));
  CallWatchdog watchdog(std::chrono::seconds(std::max(1, options.max_call_seconds)));
  ChangeHub changes(*engine);
  StateStoreService service(store, authorizer, options.store.max_backup_bytes, watchdog, changes);
  HostRegistry registry(*engine, options.registry);
  HostRegistryService registry_service(registry, store, authorizer);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.RegisterService(&service);
  builder.RegisterService(&registry_service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  grpc::ResourceQuota quota("statestore");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::string bound = absl::StrCat(host, ":", port);
  LogEvent("statestore.serving",
           {{"listen", bound},
            {"open_files", std::to_string(open_files)},
            {"data", options.data_dir},
            {"engine", options.engine},
            {"etcd_endpoints", options.engine == "etcd" ? absl::StrJoin(options.etcd.endpoints, ",") : ""},
            {"tls", options.tls_cert_file.empty() ? "off" : "on"},
            {"mtls", options.tls_client_ca_file.empty() ? "off" : "on"},
            {"admin_token_file", admin_file},
            {"encryption_at_rest", state_key_id.empty() ? "off" : "aes-256-gcm"},
            {"state_key_id", state_key_id.empty() ? "none" : state_key_id},
            {"old_state_keys", std::to_string(options.old_state_key_files.size())},
            {"keep", std::to_string(options.store.keep_newest)},
            {"min_free_bytes", std::to_string(options.min_free_bytes)},
            {"report_deadline_ms", std::to_string(options.registry.banks.report_deadline_ms)}});
  if (!options.ready_file.empty()) {
    RETURN_IF_ERROR(WriteFileAtomically(options.ready_file, bound + "\n"));
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LogEvent("statestore.stopping", {{"signal", std::to_string(signal_number)}});
  changes.Close();
  server->Shutdown(std::chrono::system_clock::now() + kDrainTime);
  server->Wait();
  LogEvent("statestore.stopped");
  return absl::OkStatus();
}

}  // namespace midwife::statestore
