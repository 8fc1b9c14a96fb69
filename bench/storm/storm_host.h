#ifndef MIDWIFE_BENCH_STORM_STORM_HOST_H_
#define MIDWIFE_BENCH_STORM_STORM_HOST_H_

// One simulated diskless host powering on, doing what its firmware, iPXE,
// mboot and host agent do, against one boot stack:
//   ProxyDHCP (DISCOVER, REQUEST to 4011)      midwife only: the static stack has none here
//   TFTP  undionly.kpxe                        blksize as iPXE asks
//   HTTP  boot.ipxe (following the discovery chain and any "retry later"
//         script), the loader, boot.cfg, the kernel and every module, the
//         host's state.tgz (checked to be its own, by SHA-256)
//   HTTP  POST birth report, POST a new state (the host's token)
// on one keep-alive connection, as iPXE and mboot keep theirs.

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "bench/storm/dhcp_hub.h"
#include "bench/storm/tftp_fetch.h"
#include "core/mac_address.h"

namespace midwife::bench {

struct StackPorts {
  uint16_t http = 0;
  uint16_t tftp = 0;
  uint16_t dhcp = 0;  // 0: no ProxyDHCP step
  uint16_t pxe = 0;
};

struct HostPlan {
  MacAddress mac;
  std::string state_sha256;  // Of the state.tgz this host must be handed.
  std::string new_state;     // What it uploads once up.
};

struct StormSettings {
  TftpFetchOptions tftp;
  std::chrono::seconds http_timeout{60};
  std::chrono::milliseconds retry_pause{1000};  // Instead of the script's "sleep".
  std::chrono::seconds give_up{300};            // A host still not up by then failed.
  bool agent = true;  // false: up once its state.tgz is in (no report, no upload)
};

// The steps of a host's boot, in order; HostResult::phase_seconds holds how
// long each took (0 for a step the stack has not: ProxyDHCP on the static one).
enum class BootPhase { kDhcp, kTftp, kScript, kModules, kState, kReport, kUpload, kCount };
inline constexpr const char* kBootPhaseNames[] = {"dhcp",  "tftp",   "script", "modules",
                                                  "state", "report", "upload"};

struct HostResult {
  bool ok = false;
  std::string failure_kind;  // dhcp, tftp, script, bootcfg, module, state, report, upload
  std::string failure;
  double seconds = 0;  // Power-on to state uploaded.
  uint64_t bytes = 0;  // Payload bytes received.
  int retries = 0;     // "Try again later" scripts followed.
  double phase_seconds[static_cast<int>(BootPhase::kCount)] = {};
};

boost::asio::awaitable<HostResult> BootHost(boost::asio::any_io_executor executor,
                                            const StackPorts& ports, DhcpHub* dhcp,
                                            const HostPlan& plan, const StormSettings& settings);

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_STORM_HOST_H_
