#ifndef MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_SERVER_H_
#define MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_SERVER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "bootserver/dhcp/proxy_dhcp.h"

namespace midwife::bootserver {

struct ProxyDhcpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t dhcp_port = dhcp::kDhcpServerPort;  // 0: any free port (tests)
  uint16_t pxe_port = dhcp::kPxeServerPort;    // 0: any free port (tests)
  dhcp::ProxyPolicy policy;
  // Where "broadcast" replies go and the client port they go to. Real
  // networks keep 255.255.255.255:68; tests on loopback point them at their
  // own socket.
  std::string broadcast_address = "255.255.255.255";
  uint16_t client_port = dhcp::kDhcpClientPort;
  // Called for every answered request (for metrics and the host's history).
  std::function<void(const dhcp::ProxyReply&, const dhcp::DhcpPacket& request)> on_offer;
};

struct ProxyDhcpCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> ignored{0};
  std::atomic<uint64_t> malformed{0};
};

// The Asio shell of ProxyDHCP: two UDP sockets (67 and 4011), each datagram
// through the pure dhcp::Parse -> MakeProxyReply -> Serialize chain, the
// reply sent where ReplyDestination says. Each wake-up of a socket answers
// every datagram pending on it (up to a bound), so a rack's burst of
// DISCOVERs waits a few turns of a busy io_context, not one per datagram.
class ProxyDhcpServer {
 public:
  ProxyDhcpServer(boost::asio::io_context& io, ProxyDhcpServerOptions options);
  ~ProxyDhcpServer();
  absl::Status Start();
  void Stop();
  uint16_t dhcp_port() const;
  uint16_t pxe_port() const;
  const ProxyDhcpCounters& counters() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_SERVER_H_
