// The ProxyDHCP shell under a rack's power-on burst: thousands of DISCOVERs
// in the same moment, each of which must be answered at once (a PXE ROM that
// hears nothing waits 4 s before it asks again).
#include "bootserver/dhcp/proxy_dhcp_server.h"

#include <poll.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "bootserver/dhcp/dhcp_codec.h"
#include "bootserver/socket_buffers.h"
#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

constexpr int kBurst = 2000;

// A PXE BIOS ROM's DISCOVER; `n` is its xid and the low bytes of its MAC.
std::vector<uint8_t> PxeDiscover(uint32_t n) {
  dhcp::DhcpPacket p;
  p.xid = n;
  p.flags = dhcp::kBroadcastFlag;
  p.chaddr = {0x02,
              0x00,
              0x00,
              static_cast<uint8_t>(n >> 16),
              static_cast<uint8_t>(n >> 8),
              static_cast<uint8_t>(n)};
  p.SetOption(53, std::vector<uint8_t>{1});  // DISCOVER
  p.SetOption(60, "PXEClient:Arch:00000:UNDI:002001");
  p.SetOption(93, std::vector<uint8_t>{0, 0});  // BIOS
  p.SetOption(94, std::vector<uint8_t>{1, 2, 1});
  std::vector<uint8_t> guid(17, 0);
  for (size_t i = 0; i < 6; ++i) guid[11 + i] = p.chaddr[i];
  p.SetOption(97, guid);
  auto bytes = dhcp::Serialize(p);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

// The hosts' side: one socket standing for port 68 of the whole rack.
class Rack {
 public:
  Rack() : socket_(io_, udp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    // Room for every reply of the burst, as the server has for every request.
    RequestReceiveBuffer(socket_.native_handle(), 8 << 20);
    socket_.non_blocking(true);
  }
  uint16_t port() const { return socket_.local_endpoint().port(); }

  // Sends one DISCOVER per xid in [1, count] to `server_port`, as fast as it can.
  void SendBurst(uint16_t server_port, int count) {
    const udp::endpoint to(asio::ip::address_v4::loopback(), server_port);
    for (int n = 1; n <= count; ++n) {
      const std::vector<uint8_t> bytes = PxeDiscover(static_cast<uint32_t>(n));
      boost::system::error_code ec;
      do {
        socket_.send_to(asio::buffer(bytes), to, 0, ec);
      } while (ec == asio::error::would_block);
      ASSERT_FALSE(ec) << ec.message();
    }
  }

  // The xids answered with an OFFER until `count` are in or `deadline` passes.
  std::set<uint32_t> AnsweredBy(Clock::time_point deadline, size_t count) {
    std::set<uint32_t> answered;
    std::vector<uint8_t> buffer(1500);
    while (answered.size() < count && Clock::now() < deadline) {
      pollfd fd{socket_.native_handle(), POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (::poll(&fd, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
      for (;;) {
        boost::system::error_code ec;
        udp::endpoint from;
        const size_t n = socket_.receive_from(asio::buffer(buffer), from, 0, ec);
        if (ec) break;
        auto reply = dhcp::Parse(std::span<const uint8_t>(buffer.data(), n));
        if (reply.ok() && reply->message_type() == 2) answered.insert(reply->xid);  // OFFER
      }
    }
    return answered;
  }

 private:
  asio::io_context io_;
  udp::socket socket_;
};

ProxyDhcpServerOptions OnLoopback(uint16_t rack_port) {
  ProxyDhcpServerOptions options;
  options.address = "127.0.0.1";
  options.dhcp_port = 0;
  options.pxe_port = 0;
  options.policy.server = {127, 0, 0, 1};
  options.broadcast_address = "127.0.0.1";
  options.client_port = rack_port;
  return options;
}

TEST(ProxyDhcpServerBurst, AnswersEveryDiscoverOfABurstThatArrivedBeforeItRan) {
  Rack rack;
  asio::io_context io;
  ProxyDhcpServer server(io, OnLoopback(rack.port()));
  ASSERT_TRUE(server.Start().ok());
  // The whole burst waits in the socket before the server reads a byte: its
  // receive buffer alone must hold a rack's DISCOVERs.
  rack.SendBurst(server.dhcp_port(), kBurst);
  std::thread runner([&io] { io.run(); });

  const std::set<uint32_t> answered =
      rack.AnsweredBy(Clock::now() + std::chrono::seconds(30), kBurst);
  server.Stop();
  io.stop();
  runner.join();  // The last reply's handler has counted it.
  EXPECT_EQ(answered.size(), static_cast<size_t>(kBurst));
  EXPECT_EQ(server.counters().replies.load(), static_cast<uint64_t>(kBurst));
}

TEST(ProxyDhcpServerBurst, AnswersABurstPromptlyWhileItsThreadHasOtherWork) {
  // The boot server's main io_context also accepts HTTP connections and
  // TFTP requests. Here 200 handlers of 100 us each keep it busy, so every
  // turn of the queue takes about 20 ms: answering one datagram per turn
  // would take 2000 turns (40 s), answering what is pending takes a few.
  Rack rack;
  asio::io_context io;
  ProxyDhcpServer server(io, OnLoopback(rack.port()));
  ASSERT_TRUE(server.Start().ok());
  std::atomic<bool> done{false};
  std::function<void()> busy = [&] {
    const auto until = Clock::now() + std::chrono::microseconds(100);
    while (Clock::now() < until) {
    }
    if (!done) asio::post(io, busy);
  };
  for (int i = 0; i < 200; ++i) asio::post(io, busy);
  std::thread runner([&io] { io.run(); });

  rack.SendBurst(server.dhcp_port(), kBurst);
  const std::set<uint32_t> answered =
      rack.AnsweredBy(Clock::now() + std::chrono::seconds(10), kBurst);
  EXPECT_EQ(answered.size(), static_cast<size_t>(kBurst))
      << "a burst answered one datagram per turn of a busy io_context leaves hosts to their "
         "4 s retry";
  done = true;
  server.Stop();
  io.stop();
  runner.join();
}

}  // namespace
}  // namespace midwife::bootserver
