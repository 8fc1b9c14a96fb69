#include "tests/bootserver/lossy_udp_relay.h"

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace midwife::testing {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

// The largest UDP payload: a relay must not truncate what it forwards.
constexpr size_t kMaxDatagram = 65536;

// One socket of the relay and its receive state.
struct Leg {
  explicit Leg(asio::io_context& io) : socket(io) {}
  udp::socket socket;
  std::array<uint8_t, kMaxDatagram> buffer{};
  udp::endpoint sender;
};

// What the relay keeps for one client address:port.
struct Flow {
  udp::endpoint client;
  std::unique_ptr<Leg> upstream;                             // faces the server
  std::map<udp::endpoint, std::unique_ptr<Leg>> downstream;  // faces the client, by server TID
};

}  // namespace

struct LossyUdpRelay::Impl {
  explicit Impl(LossyUdpRelayOptions o) : options(std::move(o)), rng(options.seed) {}

  // io first: it is destroyed last, after every socket and timer bound to it.
  asio::io_context io;
  LossyUdpRelayOptions options;
  std::unique_ptr<Leg> front;
  std::map<udp::endpoint, std::unique_ptr<Flow>> flows;  // by client address:port
  std::mt19937_64 rng;
  RelayCounters counters;
  std::thread thread;

  absl::StatusOr<std::unique_ptr<Leg>> Bind() {
    auto leg = std::make_unique<Leg>(io);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options.listen_address, ec);
    if (!ec) leg->socket.open(address.is_v4() ? udp::v4() : udp::v6(), ec);
    if (!ec) leg->socket.bind(udp::endpoint(address, 0), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("relay cannot bind ", options.listen_address, ": ", ec.message()));
    }
    return leg;
  }

  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  std::chrono::milliseconds HoldTime(const Impairment& how) {
    const auto low = how.hold_min.count();
    const auto high = std::max(how.hold_max.count(), low);
    return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(low, high)(rng));
  }

  // Sends `bytes` from `out` to `to`, impaired as `how` says. Counted as
  // received only once decided: whoever waits for `received` to move then
  // sees that datagram's drop, duplicate or hold in the counters too.
  void Forward(udp::socket& out, const udp::endpoint& to, std::span<const uint8_t> bytes,
               const Impairment& how, RelayDirectionCounters& count) {
    Impair(out, to, bytes, how, count);
    ++count.received;
  }

  void Impair(udp::socket& out, const udp::endpoint& to, std::span<const uint8_t> bytes,
              const Impairment& how, RelayDirectionCounters& count) {
    if (Uniform() < how.drop) {
      ++count.dropped;
      return;
    }
    int copies = 1;
    if (Uniform() < how.duplicate) {
      ++count.duplicated;
      copies = 2;
    }
    for (int i = 0; i < copies; ++i) {
      if (Uniform() >= how.reorder) {
        Send(out, to, bytes, count);
        continue;
      }
      ++count.reordered;
      ++counters.held;
      auto held = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
      auto timer = std::make_shared<asio::steady_timer>(io, HoldTime(how));
      timer->async_wait([this, &out, to, held, timer, &count](boost::system::error_code ec) {
        if (ec) return;
        // Sent, then no longer held: a watcher never sees neither.
        Send(out, to, *held, count);
        --counters.held;
      });
    }
  }

  void Send(udp::socket& out, const udp::endpoint& to, std::span<const uint8_t> bytes,
            RelayDirectionCounters& count) {
    boost::system::error_code ec;
    out.send_to(asio::buffer(bytes.data(), bytes.size()), to, 0, ec);
    if (!ec) ++count.sent;
  }

  template <typename OnDatagram>
  void ReceiveOn(Leg* leg, OnDatagram on_datagram) {
    leg->socket.async_receive_from(
        asio::buffer(leg->buffer), leg->sender,
        [this, leg, on_datagram](boost::system::error_code ec, size_t n) {
          if (ec == asio::error::operation_aborted) return;
          // Other errors (an ICMP "port unreachable" reported on the socket)
          // end no flow: a real link would not either.
          if (!ec) on_datagram(std::span<const uint8_t>(leg->buffer.data(), n));
          ReceiveOn(leg, on_datagram);
        });
  }

  // A datagram from a client to the relay's well-known port.
  void OnFront(std::span<const uint8_t> bytes) {
    const udp::endpoint client = front->sender;
    auto it = flows.find(client);
    if (it == flows.end()) {
      auto upstream = Bind();
      if (!upstream.ok()) return;  // Out of ports: as good as a lost datagram.
      auto flow = std::make_unique<Flow>();
      flow->client = client;
      flow->upstream = *std::move(upstream);
      Flow* raw = flow.get();
      it = flows.emplace(client, std::move(flow)).first;
      ++counters.flows;
      ReceiveOn(raw->upstream.get(),
                [this, raw](std::span<const uint8_t> b) { OnUpstream(raw, b); });
    }
    Forward(it->second->upstream->socket, options.server, bytes, options.to_server,
            counters.to_server);
  }

  // A datagram from the server (any of its TIDs) to a flow's upstream socket.
  void OnUpstream(Flow* flow, std::span<const uint8_t> bytes) {
    const udp::endpoint tid = flow->upstream->sender;
    auto it = flow->downstream.find(tid);
    if (it == flow->downstream.end()) {
      auto downstream = Bind();
      if (!downstream.ok()) return;
      Leg* raw = downstream->get();
      it = flow->downstream.emplace(tid, *std::move(downstream)).first;
      ++counters.server_tids;
      ReceiveOn(raw, [this, flow, tid, raw](std::span<const uint8_t> b) {
        // Only the flow's client speaks to this TID through the relay.
        if (raw->sender != flow->client) return;
        Forward(flow->upstream->socket, tid, b, options.to_server, counters.to_server);
      });
    }
    Forward(it->second->socket, flow->client, bytes, options.to_client, counters.to_client);
  }
};

LossyUdpRelay::LossyUdpRelay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<LossyUdpRelay>> LossyUdpRelay::Start(LossyUdpRelayOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  auto front = impl->Bind();
  if (!front.ok()) return front.status();
  impl->front = *std::move(front);
  Impl* raw = impl.get();
  raw->ReceiveOn(raw->front.get(), [raw](std::span<const uint8_t> b) { raw->OnFront(b); });
  raw->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<LossyUdpRelay>(new LossyUdpRelay(std::move(impl)));
}

LossyUdpRelay::~LossyUdpRelay() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t LossyUdpRelay::port() const { return impl_->front->socket.local_endpoint().port(); }

const RelayCounters& LossyUdpRelay::counters() const { return impl_->counters; }

}  // namespace midwife::testing
