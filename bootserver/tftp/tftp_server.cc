#include "bootserver/tftp/tftp_server.h"

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"
#include "bootserver/listen_address.h"
#include "bootserver/socket_buffers.h"
#include "bootserver/tftp/datagram_batch.h"
#include "bootserver/tftp/tftp_codec.h"
#include "bootserver/tftp/tftp_path.h"
#include "core/log.h"

namespace midwife::bootserver {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;

std::string_view StatusText(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

}  // namespace

struct TftpServer::Shared : std::enable_shared_from_this<TftpServer::Shared> {
  asio::io_context& io;
  TftpServerOptions options;
  TftpFileResolver resolver;
  udp::socket socket;
  std::array<uint8_t, tftp::kMaxRequestBytes + 1> request_buffer;
  udp::endpoint request_sender;
  TftpCounters counters;
  std::atomic<size_t> active{0};
  std::atomic<bool> stopping{false};
  // Transfers the client has not answered yet, by client address:port and
  // path: a repeat of their RRQ is not a new request (see the class comment).
  using RequestKey = std::pair<udp::endpoint, std::string>;
  std::mutex unanswered_mu;
  std::set<RequestKey> unanswered;  // guarded by unanswered_mu

  void Answered(const RequestKey& key) {
    std::lock_guard lock(unanswered_mu);
    unanswered.erase(key);
  }

  Shared(asio::io_context& io_context, TftpServerOptions o, TftpFileResolver r)
      : io(io_context), options(std::move(o)), resolver(std::move(r)), socket(io_context) {}

  void Receive();
  void OnRequest(const udp::endpoint& client, std::span<const uint8_t> bytes);
  void Refuse(const udp::endpoint& client, tftp::ErrorCode code, std::string_view why);
};

// One read transfer: its own socket (TID), strand and timer. Kept alive by
// the handlers it has outstanding; gone when the last one returns.
class Transfer : public std::enable_shared_from_this<Transfer> {
 public:
  Transfer(std::shared_ptr<TftpServer::Shared> server, udp::endpoint client, TftpFile file,
           tftp::NegotiatedOptions negotiated, std::string path)
      : server_(std::move(server)),
        executor_(TransferExecutor(*server_)),
        socket_(executor_),
        timer_(executor_),
        client_(std::move(client)),
        file_(std::move(file)),
        negotiated_(std::move(negotiated)),
        machine_(file_.bytes.size(),
                 tftp::MakeTransferConfig(negotiated_, server_->options.transfer)),
        path_(std::move(path)) {}

  ~Transfer() {
    MarkAnswered();
    --server_->active;
  }

  void Start() {
    boost::system::error_code ec;
    socket_.open(client_.protocol(), ec);
    if (!ec) socket_.bind(udp::endpoint(server_->socket.local_endpoint().address(), 0), ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) {
      Finish(absl::UnavailableError(absl::StrCat("cannot open a transfer socket: ", ec.message())));
      return;
    }
    ++server_->counters.transfers_started;
    asio::dispatch(executor_, [self = shared_from_this()] {
      self->Act(self->machine_.Start(Clock::now()));
      self->Receive();
    });
  }

 private:
  void Act(const tftp::TftpAction& action) {
    using Kind = tftp::TftpAction::Kind;
    switch (action.kind) {
      case Kind::kSend:
        if (action.retransmission) ++server_->counters.retransmissions;
        if (action.send_oack) SendOack();
        SendBlocks(action.blocks);
        ArmTimer(action.deadline);
        break;
      case Kind::kWait:
        ArmTimer(action.deadline);
        break;
      case Kind::kDone:
        Finish(absl::OkStatus());
        break;
      case Kind::kFailed:
        Finish(action.status);
        break;
    }
  }

  void SendOack() {
    auto bytes = tftp::Serialize(tftp::OptionAck{negotiated_.acknowledged});
    if (!bytes.ok()) return;
    boost::system::error_code ec;
    socket_.send_to(asio::buffer(*bytes), client_, 0, ec);
  }

  // A window's DATA packets go out in one system call.
  void SendBlocks(const std::vector<tftp::BlockToSend>& blocks) {
    if (blocks.empty()) return;
    headers_.resize(blocks.size());
    datagrams_.resize(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      headers_[i] = tftp::DataHeader(blocks[i].wire_block);
      datagrams_[i] = {
          std::string_view(reinterpret_cast<const char*>(headers_[i].data()), headers_[i].size()),
          file_.bytes.substr(blocks[i].offset, blocks[i].length)};
    }
    // A full socket buffer drops the datagrams it has no room for; the
    // timeout resends them, as for any loss on the wire.
    const int sent = tftp::SendDatagrams(socket_.native_handle(), client_.data(),
                                         static_cast<socklen_t>(client_.size()), datagrams_);
    uint64_t bytes = 0;
    for (int i = 0; i < sent; ++i) bytes += blocks[i].length;
    server_->counters.bytes_sent += bytes;
  }

  // Re-arming on every ACK would cancel and requeue a wait per block. The
  // machine takes an early OnTimeout as "not yet" and names the current
  // deadline, so the timer only moves when the deadline comes sooner.
  void ArmTimer(Clock::time_point deadline) {
    if (timer_pending_ && timer_.expiry() <= deadline) return;
    timer_pending_ = true;
    timer_.expires_at(deadline);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      self->timer_pending_ = false;
      if (ec || self->done_) return;
      self->Act(self->machine_.OnTimeout(Clock::now()));
    });
  }

  // Waits for readability, then drains every queued datagram without
  // blocking. A plain async_receive_from first tries a receive that, in a
  // lock-step transfer, nearly always finds nothing: one wasted system call
  // per block.
  void Receive() {
    if (done_) return;
    socket_.async_wait(udp::socket::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || self->done_) return;
                         for (;;) {
                           boost::system::error_code read_error;
                           size_t n = self->socket_.receive_from(asio::buffer(self->buffer_),
                                                                 self->sender_, 0, read_error);
                           if (read_error) break;  // would_block: drained
                           self->OnDatagram(n);
                           if (self->done_) return;
                         }
                         self->Receive();
                       });
  }

  void OnDatagram(size_t n) {
    boost::system::error_code ec;
    if (sender_ != client_) {
      auto error = tftp::SerializeError(tftp::ErrorCode::kUnknownTransferId, "unknown transfer ID");
      socket_.send_to(asio::buffer(error), sender_, 0, ec);
      return;
    }
    MarkAnswered();
    auto packet = tftp::Parse(std::span<const uint8_t>(buffer_.data(), n));
    if (!packet.ok()) return;  // Garbage from the right TID: ignore, the timer covers it.
    if (const auto* ack = std::get_if<tftp::Ack>(&*packet)) {
      Act(machine_.OnAck(ack->block, Clock::now()));
    } else if (const auto* error = std::get_if<tftp::Error>(&*packet)) {
      Act(machine_.OnClientError(*error));
    } else {
      auto reply = tftp::SerializeError(tftp::ErrorCode::kIllegalOperation, "expected an ACK");
      socket_.send_to(asio::buffer(reply), client_, 0, ec);
      Finish(absl::InvalidArgumentError("client sent something other than ACK or ERROR"));
    }
  }

  // The client has heard from this transfer (or it is over): a repeat of
  // its RRQ from now on is a new request.
  void MarkAnswered() {
    if (!unanswered_) return;
    unanswered_ = false;
    server_->Answered({client_, path_});
  }

  void Finish(const absl::Status& status) {
    if (done_) return;
    done_ = true;
    MarkAnswered();
    boost::system::error_code ec;
    timer_.cancel();
    socket_.close(ec);
    if (status.ok()) {
      ++server_->counters.transfers_done;
    } else {
      ++server_->counters.transfers_failed;
      LogEvent("tftp.failed", {{"client", client_.address().to_string()},
                               {"file", path_},
                               {"reason", std::string(StatusText(status))}});
    }
  }

  std::shared_ptr<TftpServer::Shared> server_;
  // A transfer's handlers (its socket's and its timer's) must never run at
  // once. On one of the daemon's single-threaded io_contexts they cannot,
  // and a strand would only add a queue hand-off to every packet; on the
  // server's own io_context, which several threads may run, each transfer
  // gets a strand.
  static asio::any_io_executor TransferExecutor(const TftpServer::Shared& server) {
    if (server.options.transfer_executor) return server.options.transfer_executor();
    return asio::make_strand(server.io.get_executor());
  }

  asio::any_io_executor executor_;
  udp::socket socket_;
  asio::steady_timer timer_;
  udp::endpoint client_;
  udp::endpoint sender_;
  TftpFile file_;
  tftp::NegotiatedOptions negotiated_;
  tftp::ReadTransfer machine_;
  std::string path_;
  std::array<uint8_t, 1024> buffer_{};
  // Scratch for SendBlocks, kept to spare an allocation per window.
  std::vector<std::array<uint8_t, tftp::kHeaderBytes>> headers_;
  std::vector<tftp::TwoPartDatagram> datagrams_;
  bool done_ = false;
  bool timer_pending_ = false;
  bool unanswered_ = true;  // our key is in server_->unanswered
};

TftpServer::TftpServer(asio::io_context& io, TftpServerOptions options, TftpFileResolver resolver)
    : shared_(std::make_shared<Shared>(io, std::move(options), std::move(resolver))) {}

TftpServer::~TftpServer() { Stop(); }

const TftpCounters& TftpServer::counters() const { return shared_->counters; }

absl::Status TftpServer::Start() {
  auto address = ParseListenAddress("TFTP", shared_->options.address);
  if (!address.ok()) return address.status();
  boost::system::error_code ec;
  udp::endpoint endpoint(*address, shared_->options.port);
  shared_->socket.open(endpoint.protocol(), ec);
  if (!ec) shared_->socket.bind(endpoint, ec);
  if (!ec) RequestReceiveBuffer(shared_->socket.native_handle(), 8 << 20);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for TFTP on ",
                                               shared_->options.address, ":", shared_->options.port,
                                               ": ", ec.message()));
  }
  port_ = shared_->socket.local_endpoint().port();
  shared_->Receive();
  return absl::OkStatus();
}

void TftpServer::Stop() {
  if (shared_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  shared_->socket.close(ec);
}

void TftpServer::Shared::Receive() {
  socket.async_receive_from(asio::buffer(request_buffer), request_sender,
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (self->stopping || ec == asio::error::operation_aborted) return;
                              if (!ec) {
                                self->OnRequest(
                                    self->request_sender,
                                    std::span<const uint8_t>(self->request_buffer.data(), n));
                              }
                              self->Receive();
                            });
}

void TftpServer::Shared::Refuse(const udp::endpoint& client, tftp::ErrorCode code,
                                std::string_view why) {
  ++counters.refused;
  auto error = tftp::SerializeError(code, why);
  boost::system::error_code ec;
  socket.send_to(asio::buffer(error), client, 0, ec);
  LogEvent("tftp.refused",
           {{"client", client.address().to_string()}, {"reason", std::string(why)}});
}

void TftpServer::Shared::OnRequest(const udp::endpoint& client, std::span<const uint8_t> bytes) {
  auto packet = tftp::Parse(bytes);
  if (!packet.ok()) {
    Refuse(client, tftp::ErrorCode::kIllegalOperation, StatusText(packet.status()));
    return;
  }
  const auto* request = std::get_if<tftp::Request>(&*packet);
  if (request == nullptr) return;  // A stray ACK or DATA on the well-known port: not a request.
  if (request->opcode == tftp::Opcode::kWrq) {
    Refuse(client, tftp::ErrorCode::kAccessViolation, "this server is read-only");
    return;
  }
  auto path = tftp::NormalizeTftpPath(request->filename);
  if (!path.ok()) {
    Refuse(client, tftp::ErrorCodeFor(path.status()), StatusText(path.status()));
    return;
  }
  RequestKey key{client, *path};
  {
    std::lock_guard lock(unanswered_mu);
    if (unanswered.count(key) > 0) {
      ++counters.duplicate_requests;
      return;
    }
  }
  if (active.load() >= options.max_transfers) {
    Refuse(client, tftp::ErrorCode::kNotDefined, "server busy, try again");
    return;
  }
  auto file = resolver(*path, client.address().to_string());
  if (!file.ok()) {
    Refuse(client, tftp::ErrorCodeFor(file.status()), StatusText(file.status()));
    return;
  }
  auto negotiated =
      tftp::NegotiateReadOptions(request->options, file->bytes.size(), options.limits);
  ++active;
  {
    // Requests are handled one at a time (one receive outstanding on the
    // well-known port), so no other request added this key since the check.
    std::lock_guard lock(unanswered_mu);
    unanswered.insert(key);
  }
  std::make_shared<Transfer>(shared_from_this(), client, *std::move(file), std::move(negotiated),
                             *path)
      ->Start();
}

}  // namespace midwife::bootserver
