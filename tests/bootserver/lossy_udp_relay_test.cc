// The test relay itself: it maps flows to TIDs as TFTP needs, and impairs
// about the share it is told to, the same way for the same seed.
#include "tests/bootserver/lossy_udp_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace midwife::testing {
namespace {

using udp = boost::asio::ip::udp;

// A blocking loopback UDP socket with a receive timeout, closed on scope exit.
class Socket {
 public:
  Socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  uint16_t port() const {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    return ntohs(local.sin_port);
  }
  void SendTo(uint16_t port, const std::string& bytes) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // The next datagram and its sender's port; nullopt on timeout (or, with
  // `wait` false, when none is queued).
  std::optional<std::pair<std::string, uint16_t>> Receive(bool wait = true) const {
    char buffer[2048];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd_, buffer, sizeof buffer, wait ? 0 : MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    return std::make_pair(std::string(buffer, static_cast<size_t>(n)), ntohs(from.sin_port));
  }

 private:
  int fd_;
};

LossyUdpRelayOptions RelayTo(uint16_t server_port) {
  LossyUdpRelayOptions options;
  options.server = udp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), server_port);
  return options;
}

TEST(LossyUdpRelayTest, MapsEachClientFlowToTheServersTransferPort) {
  Socket server;  // the well-known port
  auto relay = LossyUdpRelay::Start(RelayTo(server.port()));
  ASSERT_TRUE(relay.ok()) << relay.status();

  Socket client_a, client_b;
  client_a.SendTo((*relay)->port(), "request a");
  client_b.SendTo((*relay)->port(), "request b");
  std::map<std::string, uint16_t> seen_as;  // request -> the relay port the server saw
  for (int i = 0; i < 2; ++i) {
    auto request = server.Receive();
    ASSERT_TRUE(request.has_value());
    seen_as[request->first] = request->second;
  }
  ASSERT_EQ(seen_as.size(), 2u);
  EXPECT_NE(seen_as["request a"], seen_as["request b"]);  // one flow per client

  // The server answers each from a fresh port, its TID.
  Socket tid_a;
  tid_a.SendTo(seen_as["request a"], "data a");
  auto data = client_a.Receive();
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(data->first, "data a");
  const uint16_t relay_tid_a = data->second;
  EXPECT_NE(relay_tid_a, (*relay)->port());  // the client sees a TID of its own too

  // The client's answer to that TID reaches the server's TID, from the port
  // the server saw the request come from.
  client_a.SendTo(relay_tid_a, "ack a");
  auto ack = tid_a.Receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->first, "ack a");
  EXPECT_EQ(ack->second, seen_as["request a"]);
  // Nobody but the flow's client gets through that TID.
  client_b.SendTo(relay_tid_a, "intruder");
  client_a.SendTo(relay_tid_a, "ack a2");
  auto next = tid_a.Receive();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->first, "ack a2");
  EXPECT_EQ((*relay)->counters().flows.load(), 2u);
  EXPECT_EQ((*relay)->counters().server_tids.load(), 1u);
}

struct ImpairedRun {
  uint64_t dropped = 0, duplicated = 0, reordered = 0;
  std::vector<int> arrivals;  // sequence numbers in arrival order
};

// Sends `count` numbered datagrams from one client through a relay that
// impairs 10% each way toward the server, and collects what arrives.
ImpairedRun SendThroughImpairedRelay(uint64_t seed, int count) {
  Socket server;
  LossyUdpRelayOptions options = RelayTo(server.port());
  options.seed = seed;
  options.to_server = {.drop = 0.1,
                       .duplicate = 0.1,
                       .reorder = 0.1,
                       .hold_min = std::chrono::milliseconds(1),
                       .hold_max = std::chrono::milliseconds(5)};
  auto relay = LossyUdpRelay::Start(options);
  EXPECT_TRUE(relay.ok()) << relay.status();
  if (!relay.ok()) return {};
  const RelayCounters& counters = (*relay)->counters();
  ImpairedRun run;
  auto drain = [&] {
    while (auto d = server.Receive(/*wait=*/false)) run.arrivals.push_back(std::stoi(d->first));
  };
  Socket client;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < count; ++i) {
    client.SendTo((*relay)->port(), std::to_string(i));
    // One at a time: the relay decides in send order (so a seed replays),
    // and no socket buffer overflows and loses what the relay did not drop.
    while (counters.to_server.received.load() < static_cast<uint64_t>(i + 1) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    drain();
  }
  while ((counters.held.load() > 0 || run.arrivals.size() < counters.to_server.sent.load()) &&
         std::chrono::steady_clock::now() < deadline) {
    drain();
    std::this_thread::yield();
  }
  EXPECT_EQ(run.arrivals.size(), counters.to_server.sent.load());
  run.dropped = counters.to_server.dropped;
  run.duplicated = counters.to_server.duplicated;
  run.reordered = counters.to_server.reordered;
  return run;
}

TEST(LossyUdpRelayTest, DropsDuplicatesAndReordersAboutTheShareAskedTheSameWayPerSeed) {
  constexpr int kCount = 1000;
  const ImpairedRun run = SendThroughImpairedRelay(/*seed=*/7, kCount);
  std::map<int, int> copies;
  for (int seq : run.arrivals) ++copies[seq];
  const uint64_t missing = kCount - copies.size();
  uint64_t twice = 0;
  for (const auto& [seq, n] : copies) {
    EXPECT_LE(n, 2) << seq;
    if (n == 2) ++twice;
  }
  EXPECT_EQ(missing, run.dropped);
  EXPECT_EQ(twice, run.duplicated);
  // 10% of 1000 is 100 with a standard deviation near 9.5: [60, 140] holds
  // for any fair seed, and fails for a relay that ignores its settings.
  EXPECT_GE(run.dropped, 60u);
  EXPECT_LE(run.dropped, 140u);
  EXPECT_GE(run.duplicated, 50u);
  EXPECT_LE(run.duplicated, 140u);
  EXPECT_GE(run.reordered, 60u);
  EXPECT_LE(run.reordered, 150u);
  int overtaken = 0;
  for (size_t i = 1; i < run.arrivals.size(); ++i)
    overtaken += run.arrivals[i] < run.arrivals[i - 1];
  EXPECT_GT(overtaken, 0);

  const ImpairedRun again = SendThroughImpairedRelay(/*seed=*/7, kCount);
  EXPECT_EQ(again.dropped, run.dropped);
  EXPECT_EQ(again.duplicated, run.duplicated);
  EXPECT_EQ(again.reordered, run.reordered);
}

}  // namespace
}  // namespace midwife::testing
