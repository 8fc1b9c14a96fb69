#include "bench/storm/tftp_fetch.h"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace midwife::bench {
namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr uint16_t kRrq = 1, kData = 3, kAck = 4, kError = 5, kOack = 6;

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

std::string Ack(uint16_t block) {
  return {0, static_cast<char>(kAck), static_cast<char>(block >> 8), static_cast<char>(block & 0xff)};
}

// One datagram from the socket, or nullopt after `timeout` of silence.
asio::awaitable<std::optional<size_t>> Receive(udp::socket& socket, std::vector<uint8_t>& buffer,
                                               udp::endpoint& from, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(socket.get_executor(), timeout);
  timer.async_wait([&socket](boost::system::error_code ec) {
    if (!ec) socket.cancel();
  });
  boost::system::error_code ec;
  size_t n = co_await socket.async_receive_from(asio::buffer(buffer), from,
                                                asio::redirect_error(asio::use_awaitable, ec));
  timer.cancel();
  if (ec) co_return std::nullopt;
  co_return n;
}

}  // namespace

asio::awaitable<absl::StatusOr<uint64_t>> TftpFetch(asio::any_io_executor executor, uint16_t port,
                                                    std::string file, TftpFetchOptions options) {
  udp::socket socket(executor, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  const udp::endpoint server(asio::ip::address_v4::loopback(), port);
  std::string rrq;
  rrq += '\0';
  rrq += static_cast<char>(kRrq);
  auto field = [&rrq](const std::string& s) { rrq += s; rrq += '\0'; };
  field(file);
  field("octet");
  field("blksize");
  field(std::to_string(options.blksize));
  field("tsize");
  field("0");
  if (options.windowsize > 1) {
    field("windowsize");
    field(std::to_string(options.windowsize));
  }
  std::vector<uint8_t> buffer(static_cast<size_t>(options.blksize) + 4);
  boost::system::error_code ec;
  co_await socket.async_send_to(asio::buffer(rrq), server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return absl::UnavailableError(absl::StrCat("TFTP RRQ: ", ec.message()));

  udp::endpoint peer;          // The server's transfer port, once known.
  std::string last_sent = rrq;
  size_t blksize = 512;        // Until an OACK says otherwise.
  size_t window = 1;
  uint16_t expected = 1;       // Next DATA block wanted.
  uint64_t received = 0;
  size_t in_window = 0;
  int silent = 0;
  for (;;) {
    udp::endpoint from;
    auto n = co_await Receive(socket, buffer, from, options.timeout);
    if (!n) {
      if (++silent > options.max_retries) {
        co_return absl::DeadlineExceededError(absl::StrCat("TFTP ", file, ": no answer after ",
                                                           received, " bytes"));
      }
      co_await socket.async_send_to(asio::buffer(last_sent), peer.port() ? peer : server,
                                    asio::redirect_error(asio::use_awaitable, ec));
      in_window = 0;
      continue;
    }
    if (*n < 4) continue;
    if (peer.port() == 0) peer = from;
    if (from != peer) continue;  // Another transfer's packet: ignored, as RFC 1350 says.
    silent = 0;
    const uint16_t op = U16(buffer.data());
    if (op == kError) {
      co_return absl::NotFoundError(absl::StrCat("TFTP ", file, ": error ", U16(buffer.data() + 2), " ",
                                                 std::string(reinterpret_cast<char*>(buffer.data() + 4),
                                                             strnlen(reinterpret_cast<char*>(buffer.data() + 4), *n - 4))));
    }
    if (op == kOack) {
      // name\0value\0 pairs.
      std::string_view rest(reinterpret_cast<const char*>(buffer.data() + 2), *n - 2);
      while (!rest.empty()) {
        size_t a = rest.find('\0');
        if (a == std::string_view::npos) break;
        size_t b = rest.find('\0', a + 1);
        if (b == std::string_view::npos) break;
        std::string name(rest.substr(0, a)), value(rest.substr(a + 1, b - a - 1));
        if (name == "blksize") blksize = std::stoul(value);
        if (name == "windowsize") window = std::stoul(value);
        rest.remove_prefix(b + 1);
      }
      last_sent = Ack(0);
      co_await socket.async_send_to(asio::buffer(last_sent), peer, asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (op != kData) continue;
    const uint16_t block = U16(buffer.data() + 2);
    const size_t payload = *n - 4;
    if (block != expected) {
      // Out of order or a repeat: acknowledge what we have, so the server
      // resends from there (RFC 7440).
      last_sent = Ack(static_cast<uint16_t>(expected - 1));
      co_await socket.async_send_to(asio::buffer(last_sent), peer, asio::redirect_error(asio::use_awaitable, ec));
      in_window = 0;
      continue;
    }
    received += payload;
    ++expected;
    ++in_window;
    const bool last = payload < blksize;
    if (last || in_window >= window) {
      last_sent = Ack(block);
      co_await socket.async_send_to(asio::buffer(last_sent), peer, asio::redirect_error(asio::use_awaitable, ec));
      in_window = 0;
    }
    if (last) co_return received;
  }
}

}  // namespace midwife::bench
