#include "bootserver/dhcp/proxy_dhcp_server.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/udp.hpp>

#include "absl/strings/str_cat.h"
#include "bootserver/dhcp/client_arch.h"
#include "bootserver/listen_address.h"
#include "bootserver/socket_buffers.h"
#include "core/log.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

// A DHCP message is at most 576 bytes unless the client allows more
// (option 57); 1500 covers any Ethernet frame.
constexpr size_t kMaxDatagram = 1500;
// Room for a few thousand DISCOVERs arriving together (a rack powering on).
constexpr int kReceiveBufferBytes = 8 << 20;
// Datagrams answered per wake-up of a listener. The io_context that runs
// ProxyDHCP also accepts connections and TFTP requests, and each wake-up
// waits its turn behind whatever else is ready there: one datagram per turn
// would stretch a rack's burst of DISCOVERs over thousands of turns (PXE
// ROMs resend after 4 s), while the bound keeps a burst from holding the
// others up for more than about a millisecond.
constexpr int kMaxDatagramsPerWakeup = 64;

struct Listener {
  explicit Listener(asio::io_context& io, dhcp::ProxyPort p) : socket(io), port(p) {}
  udp::socket socket;
  dhcp::ProxyPort port;
  std::array<uint8_t, kMaxDatagram> buffer{};
  udp::endpoint sender;
};

}  // namespace

struct ProxyDhcpServer::Shared : std::enable_shared_from_this<ProxyDhcpServer::Shared> {
  ProxyDhcpServerOptions options;
  Listener dhcp;
  Listener pxe;
  ProxyDhcpCounters counters;
  std::atomic<bool> stopping{false};

  Shared(asio::io_context& io, ProxyDhcpServerOptions o)
      : options(std::move(o)),
        dhcp(io, dhcp::ProxyPort::kDhcp67),
        pxe(io, dhcp::ProxyPort::kPxe4011) {}

  absl::Status Open(Listener& l, uint16_t port) {
    auto address = ParseListenAddress("ProxyDHCP", options.address);
    if (!address.ok()) return address.status();
    boost::system::error_code ec;
    udp::endpoint endpoint(*address, port);
    l.socket.open(endpoint.protocol(), ec);
    if (!ec) l.socket.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l.socket.set_option(asio::socket_base::broadcast(true), ec);
    if (!ec) l.socket.bind(endpoint, ec);
    if (!ec) RequestReceiveBuffer(l.socket.native_handle(), kReceiveBufferBytes);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen for ProxyDHCP on ", options.address,
                                                 ":", port, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  // Waits until `l` has datagrams, answers what is pending (up to the
  // bound), waits again.
  void Receive(Listener& l) {
    l.socket.async_wait(udp::socket::wait_read,
                        [self = shared_from_this(), &l](boost::system::error_code ec) {
                          if (self->stopping || ec == asio::error::operation_aborted) return;
                          if (!ec) self->DrainPending(l);
                          self->Receive(l);
                        });
  }

  void DrainPending(Listener& l) {
    for (int i = 0; i < kMaxDatagramsPerWakeup; ++i) {
      // MSG_DONTWAIT rather than a non-blocking socket: the replies' send_to
      // keeps waiting for room in the send buffer instead of dropping.
      socklen_t length = static_cast<socklen_t>(l.sender.capacity());
      const ssize_t n = ::recvfrom(l.socket.native_handle(), l.buffer.data(), l.buffer.size(),
                                   MSG_DONTWAIT, l.sender.data(), &length);
      // EAGAIN: all answered. Any other error is the next wait's to see.
      if (n < 0) return;
      l.sender.resize(length);
      OnDatagram(l, static_cast<size_t>(n));
    }
  }

  void OnDatagram(Listener& l, size_t n) {
    ++counters.requests;
    auto request = dhcp::Parse(std::span<const uint8_t>(l.buffer.data(), n));
    if (!request.ok()) {
      ++counters.malformed;
      LogEvent("dhcp.malformed", {{"from", l.sender.address().to_string()},
                                  {"reason", std::string(request.status().message())}});
      return;
    }
    auto reply = dhcp::MakeProxyReply(*request, l.port, options.policy);
    if (!reply.ok()) {
      ++counters.ignored;
      // Non-PXE traffic is the normal case on a shared segment: log only
      // what a PXE client would want explained.
      if (!absl::IsFailedPrecondition(reply.status())) {
        LogEvent("dhcp.no_answer", {{"from", l.sender.address().to_string()},
                                    {"reason", std::string(reply.status().message())}});
      }
      return;
    }
    auto bytes = dhcp::Serialize(reply->packet);
    if (!bytes.ok()) return;
    boost::system::error_code ec;
    udp::endpoint to = Destination(reply->destination, l.sender, ec);
    if (ec) return;
    l.socket.send_to(asio::buffer(*bytes), to, 0, ec);
    if (ec) {
      LogEvent("dhcp.send_failed", {{"to", to.address().to_string()}, {"reason", ec.message()}});
      return;
    }
    ++counters.replies;
    LogEvent("dhcp.offer", {{"mac", reply->mac.ToString()},
                            {"port", l.port == dhcp::ProxyPort::kDhcp67 ? "67" : "4011"},
                            {"to", to.address().to_string()},
                            {"boot", reply->boot}});
    if (options.on_offer) options.on_offer(*reply, *request);
  }

  udp::endpoint Destination(const dhcp::ReplyDestination& d, const udp::endpoint& source,
                            boost::system::error_code& ec) const {
    using Kind = dhcp::ReplyDestination::Kind;
    switch (d.kind) {
      case Kind::kRelay:
        return udp::endpoint(asio::ip::address_v4(d.address), d.port);
      case Kind::kRequestSource:
        return source;
      case Kind::kClient:
        return udp::endpoint(asio::ip::address_v4(d.address), options.client_port);
      case Kind::kBroadcast:
        break;
    }
    return udp::endpoint(asio::ip::make_address(options.broadcast_address, ec),
                         options.client_port);
  }
};

ProxyDhcpServer::ProxyDhcpServer(asio::io_context& io, ProxyDhcpServerOptions options)
    : shared_(std::make_shared<Shared>(io, std::move(options))) {}

ProxyDhcpServer::~ProxyDhcpServer() { Stop(); }

absl::Status ProxyDhcpServer::Start() {
  if (auto st = shared_->Open(shared_->dhcp, shared_->options.dhcp_port); !st.ok()) return st;
  if (auto st = shared_->Open(shared_->pxe, shared_->options.pxe_port); !st.ok()) return st;
  shared_->Receive(shared_->dhcp);
  shared_->Receive(shared_->pxe);
  return absl::OkStatus();
}

void ProxyDhcpServer::Stop() {
  if (shared_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  shared_->dhcp.socket.close(ec);
  shared_->pxe.socket.close(ec);
}

uint16_t ProxyDhcpServer::dhcp_port() const { return shared_->dhcp.socket.local_endpoint().port(); }
uint16_t ProxyDhcpServer::pxe_port() const { return shared_->pxe.socket.local_endpoint().port(); }
const ProxyDhcpCounters& ProxyDhcpServer::counters() const { return shared_->counters; }

}  // namespace midwife::bootserver
