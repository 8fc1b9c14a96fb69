#ifndef MIDWIFE_TESTS_BOOTSERVER_LOSSY_UDP_RELAY_H_
#define MIDWIFE_TESTS_BOOTSERVER_LOSSY_UDP_RELAY_H_

// A UDP relay for tests that puts a bad network between TFTP clients and a
// TFTP server on loopback: it forwards datagrams both ways and, by a seeded
// RNG, drops, duplicates and reorders (holds back, then releases after later
// ones) a configurable share of them in each direction.
//
// TFTP answers from a new port per transfer (the server's TID, RFC 1350 §4),
// so a plain port forward is not enough. The relay keeps, per client
// address:port (a "flow"):
//   - one upstream socket: what the server sees as the client; it sends the
//     client's datagrams to the server's well-known port or TID;
//   - per server TID that answered the flow, one downstream socket: what the
//     client sees as that TID. The client's datagrams to it go to that TID.
//
//   client C --RRQ--> front port --(upstream U)--> server:69
//   server TID T --DATA--> U --(downstream D_T)--> C
//   C --ACK--> D_T --(U)--> T
//
// A duplicated RRQ makes the server start two transfers; the client then sees
// two TIDs, as it would on a real lossy link.
//
// Threading: the relay runs its own thread; counters() may be read from any
// thread. Flows live until the relay is destroyed (a test makes a bounded
// number of them).

#include <atomic>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace midwife::testing {

// What happens to datagrams going one way. Each datagram is dropped with
// probability `drop`; a kept one is sent twice with probability `duplicate`;
// each copy is held back for a random time in [hold_min, hold_max] with
// probability `reorder` (later datagrams overtake it).
struct Impairment {
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;
  std::chrono::milliseconds hold_min{5};
  std::chrono::milliseconds hold_max{40};
};

struct LossyUdpRelayOptions {
  std::string listen_address = "127.0.0.1";
  boost::asio::ip::udp::endpoint server;  // the server's well-known port
  uint64_t seed = 1;
  Impairment to_server;
  Impairment to_client;
};

struct RelayDirectionCounters {
  std::atomic<uint64_t> received{0};    // datagrams that came in
  std::atomic<uint64_t> dropped{0};     // of those, not sent on
  std::atomic<uint64_t> duplicated{0};  // of those, sent twice
  std::atomic<uint64_t> reordered{0};   // copies held back
  std::atomic<uint64_t> sent{0};        // copies sent on (held ones once released)
};

struct RelayCounters {
  RelayDirectionCounters to_server;
  RelayDirectionCounters to_client;
  std::atomic<uint64_t> held{0};  // copies held back right now
  std::atomic<uint64_t> flows{0};
  std::atomic<uint64_t> server_tids{0};
};

class LossyUdpRelay {
 public:
  // Binds the front port and starts the relay's thread.
  static absl::StatusOr<std::unique_ptr<LossyUdpRelay>> Start(LossyUdpRelayOptions options);
  // Stops the thread; held datagrams are discarded.
  ~LossyUdpRelay();
  LossyUdpRelay(const LossyUdpRelay&) = delete;
  LossyUdpRelay& operator=(const LossyUdpRelay&) = delete;

  // The port clients send their requests to (in place of the server's).
  uint16_t port() const;
  const RelayCounters& counters() const;

 private:
  struct Impl;
  explicit LossyUdpRelay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_BOOTSERVER_LOSSY_UDP_RELAY_H_
