#include "bench/storm/dhcp_hub.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "bench/storm/process_stats.h"
#include "bootserver/dhcp/dhcp_options.h"
#include "bootserver/socket_buffers.h"

namespace midwife::bench {
namespace asio = boost::asio;
namespace dhcp = bootserver::dhcp;
using asio::ip::udp;

namespace {

// PXE ROMs wait 4, 8, 16 then 32 s between tries (PXE 2.1, 2.2.1); a random
// spread keeps a rack's retries from arriving together again.
constexpr int kAttempts = 4;

dhcp::DhcpPacket PxeRequest(const MacAddress& mac, uint32_t xid, dhcp::MessageType type) {
  dhcp::DhcpPacket p;
  p.xid = xid;
  p.flags = dhcp::kBroadcastFlag;
  std::copy(mac.bytes().begin(), mac.bytes().end(), p.chaddr.begin());
  p.SetOption(53, std::vector<uint8_t>{static_cast<uint8_t>(type)});
  p.SetOption(60, "PXEClient:Arch:00000:UNDI:002001");
  p.SetOption(93, std::vector<uint8_t>{0, 0});     // BIOS
  p.SetOption(94, std::vector<uint8_t>{1, 2, 1});  // UNDI 2.1
  std::vector<uint8_t> guid(17, 0);
  for (size_t i = 0; i < 6; ++i) guid[11 + i] = mac.bytes()[i];
  p.SetOption(97, guid);
  return p;
}

}  // namespace

DhcpHub::DhcpHub(asio::io_context& io)
    : socket_(io, udp::endpoint(asio::ip::address_v4::loopback(), 0)) {
  bootserver::RequestReceiveBuffer(socket_.native_handle(), 16 << 20);
  socket_.non_blocking(true);  // Drained until it would block.
}

void DhcpHub::Start() { asio::co_spawn(socket_.get_executor(), ReceiveLoop(), asio::detached); }

void DhcpHub::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  counters_.drops = UdpDrops(port());
  asio::post(socket_.get_executor(), [this] { socket_.close(); });
}

asio::awaitable<void> DhcpHub::ReceiveLoop() {
  std::vector<uint8_t> buffer(1500);
  for (;;) {
    boost::system::error_code ec;
    co_await socket_.async_wait(udp::socket::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      std::lock_guard lock(mu_);
      if (stopping_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
        co_return;
      continue;
    }
    // Everything pending in this one turn: the client threads also run every
    // host's TFTP and HTTP, and one reply per turn of their queue would leave
    // a rack's replies waiting seconds behind the transfers.
    for (;;) {
      udp::endpoint from;
      const size_t n = socket_.receive_from(asio::buffer(buffer), from, 0, ec);
      if (ec) break;
      Deliver(std::span<const uint8_t>(buffer.data(), n));
    }
  }
}

void DhcpHub::Deliver(std::span<const uint8_t> datagram) {
  auto packet = dhcp::Parse(datagram);
  if (!packet.ok()) return;
  std::lock_guard lock(mu_);
  auto it = waiting_.find(packet->xid);
  // A DISCOVER and its REQUEST share an xid: a late OFFER is no ACK.
  if (it == waiting_.end() || it->second->reply || packet->message_type() != it->second->expect) {
    ++counters_.unmatched;
    return;
  }
  ++counters_.answered;
  Waiter& waiter = *it->second;
  waiter.reply = *std::move(packet);
  // Wakes the waiter on its own strand, once it waits. By then it may have
  // seen the reply and gone (its timer with it), and the next exchange may
  // wait under the same xid: only a waiter still registered with this id
  // is woken.
  asio::post(waiter.timer->get_executor(), [this, xid = waiter.reply->xid, id = waiter.id] {
    std::lock_guard lock(mu_);
    auto found = waiting_.find(xid);
    if (found != waiting_.end() && found->second->id == id) found->second->timer->cancel();
  });
}

asio::awaitable<absl::StatusOr<dhcp::DhcpPacket>> DhcpHub::Transact(const dhcp::DhcpPacket& request,
                                                                    uint16_t port) {
  auto bytes = dhcp::Serialize(request);
  if (!bytes.ok()) co_return bytes.status();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const bool discover =
      request.message_type() == static_cast<uint8_t>(dhcp::MessageType::kDiscover);
  Waiter waiter{
      0, static_cast<uint8_t>(discover ? dhcp::MessageType::kOffer : dhcp::MessageType::kAck),
      std::nullopt, &timer};
  {
    std::lock_guard lock(mu_);
    waiter.id = next_waiter_id_++;
    waiting_[request.xid] = &waiter;
  }
  const udp::endpoint to(asio::ip::address_v4::loopback(), port);
  absl::StatusOr<dhcp::DhcpPacket> result = absl::DeadlineExceededError(
      absl::StrCat("no ProxyDHCP answer on port ", port, " after ", kAttempts, " tries"));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ++(attempt == 0 ? counters_.sent : counters_.resent);
    boost::system::error_code ec;
    co_await socket_.async_send_to(asio::buffer(*bytes), to,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) ++counters_.send_failed;
    {
      std::lock_guard lock(mu_);
      if (waiter.reply) break;
      thread_local std::mt19937 jitter(std::random_device{}());
      const int base_ms = 4000 << attempt;
      timer.expires_after(std::chrono::milliseconds(
          std::uniform_int_distribution<int>(base_ms * 3 / 4, base_ms * 5 / 4)(jitter)));
    }
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::lock_guard lock(mu_);
    if (waiter.reply) break;
  }
  std::lock_guard lock(mu_);
  waiting_.erase(request.xid);
  if (waiter.reply) result = *std::move(waiter.reply);
  co_return result;
}

asio::awaitable<absl::StatusOr<std::string>> DhcpHub::PxeExchange(const MacAddress& mac,
                                                                  uint16_t dhcp_port,
                                                                  uint16_t pxe_port) {
  uint32_t xid;
  {
    std::lock_guard lock(mu_);
    xid = next_xid_++;
  }
  auto offer = co_await Transact(PxeRequest(mac, xid, dhcp::MessageType::kDiscover), dhcp_port);
  if (!offer.ok()) co_return offer.status();
  dhcp::DhcpPacket request = PxeRequest(mac, xid, dhcp::MessageType::kRequest);
  request.ciaddr = {127, 0, 0, 1};
  auto ack = co_await Transact(request, pxe_port);
  if (!ack.ok()) co_return ack.status();
  std::string file = ack->OptionText(67);
  if (file.empty()) file = ack->file;
  if (file.empty()) co_return absl::NotFoundError("ProxyDHCP ACK names no boot file");
  co_return file;
}

}  // namespace midwife::bench
