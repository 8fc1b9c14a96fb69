#ifndef MIDWIFE_BOOTSERVER_SERVER_BOOT_SERVER_H_
#define MIDWIFE_BOOTSERVER_SERVER_BOOT_SERVER_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "bootserver/boot/boot_service.h"
#include "bootserver/server/idle_spin_policy.h"
#include "statestore/client.h"

namespace midwife::bootserver {

struct BootServerOptions {
  std::string repo_dir = "data/repo";
  statestore::ClientOptions statestore;  // address, admin token, TLS
  // host:port for each protocol; empty disables it. Port 0: any (tests).
  std::string http = "0.0.0.0:80";
  std::string tftp = "0.0.0.0:69";
  std::string proxydhcp;  // "0.0.0.0" (ports 67 and 4011) or "addr:dhcp_port:pxe_port"
  // The address hosts reach this server at; default: the HTTP address.
  std::string advertise;
  std::string ready_file;
  int io_threads = 0;  // 0: one per core
  // How long a worker thread out of work may poll for more before it
  // sleeps, while its recent gaps were that short (IdleSpinPolicy; flag
  // --idle-spin-us, 0 turns it off). A lock-step TFTP client whose ACK
  // comes back within it finds the thread awake (3x tftpd-hpa on loopback
  // at blksize 512 and 1468, against parity with 0).
  std::chrono::microseconds idle_spin = kDefaultIdleSpin;
  BootServiceOptions boot;
  // A site boot server (docs/SITE_CACHE.md): pull what the repository lacks
  // from this boot server ("http://HOST:PORT"); empty: none. Pulled blobs go
  // to cache_dir (default <repo_dir>/site-cache), at most cache_bytes.
  std::string upstream;
  std::string cache_dir;
  uint64_t cache_bytes = kDefaultSiteCacheBytes;
  // Follow the state store's change feed (flag --no-store-watch turns it
  // off): the caches a boot falls back to when the store does not answer
  // learn of new backups, deleted hosts and changed assignments as they
  // happen, from any boot server or frontend, without polling.
  bool follow_store_changes = true;
  // ProxyDHCP test knobs (see ProxyDhcpServerOptions).
  std::string dhcp_broadcast_address = "255.255.255.255";
  uint16_t dhcp_client_port = 68;
};

// Runs the boot server until SIGINT or SIGTERM.
absl::Status RunBootServer(BootServerOptions options);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_SERVER_BOOT_SERVER_H_
