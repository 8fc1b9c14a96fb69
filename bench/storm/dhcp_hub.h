#ifndef MIDWIFE_BENCH_STORM_DHCP_HUB_H_
#define MIDWIFE_BENCH_STORM_DHCP_HUB_H_

// The simulated hosts' DHCP side: one UDP socket standing for the client
// port every host listens on (the ProxyDHCP server's "broadcast" replies come
// to it), with replies handed to the host waiting for that transaction id.

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "bootserver/dhcp/dhcp_codec.h"
#include "core/mac_address.h"

namespace midwife::bench {

class DhcpHub {
 public:
  explicit DhcpHub(boost::asio::io_context& io);
  uint16_t port() const { return socket_.local_endpoint().port(); }
  // Starts receiving; call once, before the first exchange.
  void Start();
  void Stop();

  // A PXE BIOS client's DISCOVER to `dhcp_port` then REQUEST to `pxe_port`,
  // as a PXE ROM does with a ProxyDHCP server; returns the ACK's boot file.
  boost::asio::awaitable<absl::StatusOr<std::string>> PxeExchange(const MacAddress& mac,
                                                                  uint16_t dhcp_port,
                                                                  uint16_t pxe_port);

 private:
  struct Waiter {
    std::optional<bootserver::dhcp::DhcpPacket> reply;
    boost::asio::steady_timer* timer = nullptr;
  };
  boost::asio::awaitable<void> ReceiveLoop();
  boost::asio::awaitable<absl::StatusOr<bootserver::dhcp::DhcpPacket>> Transact(
      const bootserver::dhcp::DhcpPacket& request, uint16_t port);

  boost::asio::ip::udp::socket socket_;
  std::mutex mu_;
  std::map<uint32_t, Waiter*> waiting_;  // by xid
  uint32_t next_xid_ = 0x6d770000;
  bool stopping_ = false;
};

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_DHCP_HUB_H_
