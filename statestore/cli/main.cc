// statestore: the state store daemon (`serve`) and its command-line client.
#include <iostream>

#include <CLI/CLI.hpp>

#include "absl/strings/str_split.h"

#include "core/abseil_runtime.h"
#include "statestore/cli/client_commands.h"
#include "statestore/offline_rekey.h"
#include "statestore/server.h"

namespace {

using midwife::statestore::ClientOptions;
using midwife::statestore::ServerOptions;
using midwife::statestore::cli::ClientCommand;

void AddClientFlags(CLI::App* sub, ClientOptions& client, std::string& token,
                    std::string& token_file, ClientCommand& command) {
  sub->add_option("--server", client.server, "state store address host:port")->capture_default_str();
  sub->add_option("--token", token, "admin or host token");
  sub->add_option("--token-file", token_file, "file holding the token (mode 0600)");
  sub->add_option("--tls-ca", client.tls_ca_file, "CA certificate to trust the server by (enables TLS)");
  sub->add_option("--tls-cert", client.tls_cert_file, "client certificate for mutual TLS");
  sub->add_option("--tls-key", client.tls_key_file, "client key for mutual TLS");
  sub->add_flag("--json", command.json, "print JSON for scripts");
}

}  // namespace

int main(int argc, char** argv) {
  midwife::TurnOffAbseilDeadlockDetection();
  CLI::App app{"midwife state store: configuration backups of diskless hosts, keyed by MAC"};
  app.require_subcommand(1);

  ServerOptions server;
  uint64_t max_uncompressed = server.store.archive_limits.max_uncompressed_bytes;
  size_t max_entries = server.store.archive_limits.max_entries;
  CLI::App* serve = app.add_subcommand("serve", "run the gRPC service");
  serve->add_option("--data", server.data_dir, "data folder (RocksDB, tokens; with etcd only the tokens)")->capture_default_str();
  serve->add_option("--engine", server.engine, "storage: rocksdb (embedded) or etcd (shared cluster)")->capture_default_str()->check(CLI::IsMember({"rocksdb", "etcd"}));
  std::string etcd_endpoints;
  serve->add_option("--etcd-endpoints", etcd_endpoints, "etcd members' client addresses, host:port,host:port,...");
  serve->add_option("--etcd-ca", server.etcd.ca_file, "CA certificate of the etcd members (enables TLS to etcd)");
  serve->add_option("--etcd-cert", server.etcd.cert_file, "client certificate for etcd (--client-cert-auth)");
  serve->add_option("--etcd-key", server.etcd.key_file, "client key for etcd (mode 0600)");
  int64_t etcd_timeout_ms = server.etcd.attempt_timeout.count();
  int64_t etcd_call_timeout_ms = server.etcd.call_timeout.count();
  serve->add_option("--etcd-timeout-ms", etcd_timeout_ms, "deadline of one request to one etcd member")->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{600'000}));
  serve->add_option("--etcd-call-timeout-ms", etcd_call_timeout_ms, "deadline of one storage call across members and retries")->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{3'600'000}));
  serve->add_option("--etcd-max-request-bytes", server.etcd.max_request_bytes, "etcd's --max-request-bytes (never above the cluster's)")->capture_default_str();
  serve->add_option("--etcd-max-txn-ops", server.etcd.max_txn_ops, "etcd's --max-txn-ops (never above the cluster's)")->capture_default_str();
  serve->add_option("--orphan-sweep-seconds", server.orphan_sweep_seconds, "with etcd: how often to look for chunks of backups whose writer died (0: never)")->capture_default_str()->check(CLI::Range(0, 7 * 24 * 3600));
  serve->add_option("--listen", server.listen, "address to listen on (port 0: any)")->capture_default_str();
  serve->add_option("--admin-token-file", server.admin_token_file, "admin token file (default <data>/admin.token, created)");
  serve->add_option("--host-secret-file", server.host_secret_file, "secret host tokens derive from (default <data>/host-token.secret, created)");
  serve->add_option("--tls-cert", server.tls_cert_file, "server certificate chain (PEM)");
  serve->add_option("--tls-key", server.tls_key_file, "server private key (PEM, mode 0600)");
  serve->add_option("--tls-client-ca", server.tls_client_ca_file, "require client certificates signed by this CA");
  serve->add_option("--state-key-file", server.state_key_file, "encrypt state at rest with this key: 32 random bytes, mode 0600 (head -c 32 /dev/urandom > F; chmod 600 F); without it state is stored unencrypted");
  serve->add_option("--old-state-key-file", server.old_state_key_files, "an earlier state key, still accepted for reading older versions (repeatable)");
  serve->add_flag("--insecure", server.insecure, "allow plaintext on a non-loopback address");
  serve->add_option("--ready-file", server.ready_file, "write host:port here once serving");
  serve->add_option("--keep", server.store.keep_newest, "versions kept per host besides pinned ones")->capture_default_str()->check(CLI::Range(1u, 100000u));
  serve->add_option("--max-backup-bytes", server.store.max_backup_bytes, "largest backup accepted")->capture_default_str();
  serve->add_option("--min-free-bytes", server.min_free_bytes, "refuse writes (RESOURCE_EXHAUSTED) that would leave less free on the data disk")->capture_default_str();
  serve->add_option("--max-uncompressed-bytes", max_uncompressed, "largest uncompressed total of a backup")->capture_default_str();
  serve->add_option("--max-entries", max_entries, "most tar entries in a backup")->capture_default_str();
  serve->add_option("--max-streams", server.max_concurrent_streams, "concurrent streams per connection")->capture_default_str();
  serve->add_option("--max-threads", server.max_threads, "threads serving RPCs")->capture_default_str();
  serve->add_option("--max-call-seconds", server.max_call_seconds, "cancel a Backup or Restore stream running longer")->capture_default_str();
  int64_t report_deadline_seconds = server.registry.banks.report_deadline_ms / 1000;
  serve->add_option("--report-deadline-seconds", report_deadline_seconds, "how long a trial image may go without a birth report before the host falls back")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{7 * 24 * 3600}));

  midwife::statestore::RekeyOptions rekey_options;
  CLI::App* rekey = app.add_subcommand(
      "rekey", "re-encrypt every stored version under the current state key (server stopped)");
  rekey->add_option("--data", rekey_options.data_dir, "the server's data folder")->required();
  rekey->add_option("--state-key-file", rekey_options.state_key_file, "the key to encrypt under (the next --state-key-file)")->required();
  rekey->add_option("--old-state-key-file", rekey_options.old_state_key_files, "a key versions may still be encrypted with (repeatable)");

  ClientOptions client;
  ClientCommand command;
  std::string token, token_file;
  auto add_client = [&](const char* name, const char* help) {
    CLI::App* sub = app.add_subcommand(name, help);
    AddClientFlags(sub, client, token, token_file, command);
    return sub;
  };
  auto mac_opt = [&](CLI::App* sub) { sub->add_option("--mac", command.mac, "host MAC address")->required(); };
  auto version_opt = [&](CLI::App* sub) { sub->add_option("--version", command.version, "version (default: newest)"); };

  CLI::App* backup = add_client("backup", "store a state tarball as the host's next version");
  mac_opt(backup);
  backup->add_option("--file", command.file, "state.tgz, configBundle or tarball")->required();
  backup->add_option("--kind", command.kind, "esxi-state, esxi-config-bundle or plain-tarball (default: detect)");
  backup->add_option("--label", command.labels, "key=value, repeatable");
  backup->add_option("--expected-version", command.expected_version, "store only if the newest version is this (0: none)");
  CLI::App* restore = add_client("restore", "fetch a stored version");
  mac_opt(restore);
  version_opt(restore);
  restore->add_option("--out", command.out, "output file, - for stdout")->required();
  mac_opt(add_client("versions", "list a host's versions, newest first"));
  add_client("hosts", "list every host with backups")->add_option("--page-size", command.page_size, "hosts per request")->capture_default_str();
  mac_opt(add_client("stat", "show a host's newest version"));
  mac_opt(add_client("delete", "delete a host and all its versions"));
  CLI::App* pin = add_client("pin", "keep a version regardless of retention");
  mac_opt(pin);
  version_opt(pin);
  pin->add_flag("--unpin", command.unpin, "release the pin instead");
  CLI::App* copy = add_client("copy", "copy a host's state to a replacement host");
  copy->add_option("--from", command.from_mac, "MAC of the failed host")->required();
  copy->add_option("--to", command.to_mac, "MAC of the replacement")->required();
  version_opt(copy);
  mac_opt(add_client("token", "print a host's own token"));

  CLI11_PARSE(app, argc, argv);
  CLI::App* chosen = app.get_subcommands().front();

  if (chosen == serve) {
    server.store.archive_limits.max_uncompressed_bytes = max_uncompressed;
    server.store.archive_limits.max_entries = max_entries;
    server.registry.banks.report_deadline_ms = report_deadline_seconds * 1000;
    server.etcd.endpoints = absl::StrSplit(etcd_endpoints, ',', absl::SkipEmpty());
    server.etcd.attempt_timeout = std::chrono::milliseconds(etcd_timeout_ms);
    server.etcd.call_timeout = std::chrono::milliseconds(etcd_call_timeout_ms);
    if (server.engine == "etcd" && server.etcd.endpoints.empty()) {
      std::cerr << "statestore serve: --engine etcd needs --etcd-endpoints\n";
      return 1;
    }
    absl::Status status = midwife::statestore::RunServer(server);
    if (!status.ok()) std::cerr << "statestore serve: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  if (chosen == rekey) {
    auto report = midwife::statestore::RekeyDataDir(rekey_options);
    if (!report.ok()) {
      std::cerr << "statestore rekey: " << report.status().message() << "\n";
      return 1;
    }
    std::cout << "re-encrypted " << report->resealed << " of " << report->versions
              << " versions of " << report->hosts << " hosts; the rest were already under the "
              << "current key\n";
    return 0;
  }
  command.name = chosen->get_name();
  absl::Status status;
  if (auto resolved = midwife::statestore::cli::ResolveToken(token, token_file); !resolved.ok()) {
    status = resolved.status();
  } else {
    client.token = *resolved;
    auto connected = midwife::statestore::StateStoreClient::Connect(client);
    status = connected.ok() ? RunClientCommand(command, **connected) : connected.status();
  }
  if (!status.ok()) {
    std::cerr << "statestore " << command.name << ": " << status.message() << "\n";
    return 1;
  }
  return 0;
}
