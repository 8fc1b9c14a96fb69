#ifndef MIDWIFE_STATESTORE_SERVER_H_
#define MIDWIFE_STATESTORE_SERVER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "statestore/backup_store.h"
#include "statestore/etcd_engine.h"
#include "statestore/host_registry.h"
#include "statestore/rocksdb_engine.h"

namespace midwife::statestore {

// Default gRPC port of the state store.
inline constexpr int kDefaultPort = 7411;

struct ServerOptions {
  // Where the data lives (flag --engine): "rocksdb", embedded under
  // <data_dir>/rocksdb (the default), or "etcd", a cluster shared by any
  // number of frontends (`etcd`). With etcd a frontend keeps no data of its
  // own: <data_dir> then holds only the admin token and the host-token
  // secret, which every frontend of one cluster must share (copy the files,
  // or point --admin-token-file and --host-secret-file at the same ones).
  std::string engine = "rocksdb";
  EtcdEngineOptions etcd;
  // With etcd: how often chunks of backups whose writer died before its
  // final commit are looked for (flag --orphan-sweep-seconds; 0: never).
  // They are deleted by the second sweep that finds them.
  int orphan_sweep_seconds = 600;
  std::string data_dir = "data/statestore";
  std::string listen = "127.0.0.1:7411";
  // Default <data_dir>/admin.token, created (mode 0600) on first start.
  std::string admin_token_file;
  // Secret that host tokens derive from; default <data_dir>/host-token.secret.
  std::string host_secret_file;
  // TLS: certificate chain and key (PEM); with client_ca, clients must
  // present a certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Encryption at rest (docs/SECURITY.md): the key new versions are sealed
  // with (32 raw bytes, mode 0600; empty: archives stored unencrypted, which
  // the serving log line says), and keys older versions may be sealed with.
  std::string state_key_file;
  std::vector<std::string> old_state_key_files;
  // Needed to listen on a non-loopback address without TLS.
  bool insecure = false;
  // When set, "host:port" is written here (atomically) once serving; with
  // port 0 in `listen` this is how a caller learns the port.
  std::string ready_file;
  // HTTP/2 streams per connection (flag --max-streams).
  int max_concurrent_streams = 256;
  // Threads serving RPCs at most (flag --max-threads). Beyond this a call is
  // refused with RESOURCE_EXHAUSTED, which the client library retries.
  int max_threads = 256;
  // A streaming call (Backup, Restore) running longer than this is cancelled,
  // whatever deadline the client set, or none (flag --max-call-seconds).
  int max_call_seconds = 300;
  // Writes are refused (RESOURCE_EXHAUSTED) rather than leave less than this
  // free on the data folder's disk (flag --min-free-bytes; rocksdb_engine.h).
  uint64_t min_free_bytes = RocksDbOptions{}.min_free_bytes;
  BackupStoreOptions store;
  HostRegistryOptions registry;
};

// Opens the data folder, serves until SIGINT or SIGTERM, then drains for at
// most 10 s. Returns the error that stopped it from starting or serving.
// REQUIRES: called from the main thread before any other thread starts, so
// that the signal mask it sets is inherited by gRPC's threads.
absl::Status RunServer(const ServerOptions& options);

// True for 127.0.0.0/8, ::1, localhost and unix: addresses.
bool IsLoopbackListenAddress(std::string_view listen);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_SERVER_H_
