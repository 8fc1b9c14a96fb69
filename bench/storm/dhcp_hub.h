#ifndef MIDWIFE_BENCH_STORM_DHCP_HUB_H_
#define MIDWIFE_BENCH_STORM_DHCP_HUB_H_

// The simulated hosts' DHCP side: one UDP socket standing for the client
// port every host listens on (the ProxyDHCP server's "broadcast" replies come
// to it), with replies handed to the host waiting for that transaction id.

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "bootserver/dhcp/dhcp_codec.h"
#include "core/mac_address.h"

namespace midwife::bench {

// What the hub saw, for telling a slow ProxyDHCP answer from a lost one.
struct DhcpHubCounters {
  std::atomic<uint64_t> sent{0};       // DISCOVERs and REQUESTs, first tries
  std::atomic<uint64_t> resent{0};     // tries after a backoff without an answer
  std::atomic<uint64_t> answered{0};   // replies handed to the host waiting for them
  std::atomic<uint64_t> unmatched{0};  // replies nobody waits for (late or duplicate)
  std::atomic<uint64_t> send_failed{0};
  // Replies the kernel dropped on the hub's socket, its receive buffer full
  // (read when the hub stops; -1 before).
  std::atomic<long> drops{-1};
};

class DhcpHub {
 public:
  explicit DhcpHub(boost::asio::io_context& io);
  uint16_t port() const { return socket_.local_endpoint().port(); }
  // Starts receiving; call once, before the first exchange.
  void Start();
  // Stops receiving (the socket closes), once every exchange is over.
  void Stop();

  // A PXE BIOS client's DISCOVER to `dhcp_port` then REQUEST to `pxe_port`,
  // as a PXE ROM does with a ProxyDHCP server; returns the ACK's boot file.
  boost::asio::awaitable<absl::StatusOr<std::string>> PxeExchange(const MacAddress& mac,
                                                                  uint16_t dhcp_port,
                                                                  uint16_t pxe_port);
  const DhcpHubCounters& counters() const { return counters_; }

 private:
  // One exchange waiting for its reply. A DISCOVER and its REQUEST share
  // an xid, so `id` tells a waiter from the one before it under that xid.
  struct Waiter {
    uint64_t id = 0;
    uint8_t expect = 0;  // The reply's message type: OFFER or ACK.
    std::optional<bootserver::dhcp::DhcpPacket> reply;
    boost::asio::steady_timer* timer = nullptr;
  };
  boost::asio::awaitable<void> ReceiveLoop();
  // Hands a reply to the exchange waiting for it.
  void Deliver(std::span<const uint8_t> datagram);
  boost::asio::awaitable<absl::StatusOr<bootserver::dhcp::DhcpPacket>> Transact(
      const bootserver::dhcp::DhcpPacket& request, uint16_t port);

  boost::asio::ip::udp::socket socket_;
  std::mutex mu_;
  std::map<uint32_t, Waiter*> waiting_;  // by xid
  uint32_t next_xid_ = 0x6d770000;
  uint64_t next_waiter_id_ = 1;
  DhcpHubCounters counters_;
  bool stopping_ = false;
};

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_DHCP_HUB_H_
