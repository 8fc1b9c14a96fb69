// The TFTP shell on a loopback port, driven by raw datagrams: what a
// repeated RRQ does.
#include "bootserver/tftp/tftp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "bootserver/tftp/tftp_codec.h"
#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

// A client socket with a receive timeout; the port is its TID.
class Client {
 public:
  Client() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void Send(uint16_t port, const tftp::Packet& packet) const {
    auto bytes = tftp::Serialize(packet);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd_, bytes->data(), bytes->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // The next packet and the port it came from; nullopt after 2 s of nothing.
  std::optional<std::pair<tftp::Packet, uint16_t>> Receive() const {
    uint8_t buffer[2048];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    auto packet = tftp::Parse(std::span<const uint8_t>(buffer, static_cast<size_t>(n)));
    if (!packet.ok()) return std::nullopt;
    return std::make_pair(*std::move(packet), ntohs(from.sin_port));
  }

 private:
  int fd_;
};

class TftpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TftpServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<TftpServer>(
        io_, options, [this](const std::string&, const std::string&) -> absl::StatusOr<TftpFile> {
          return TftpFile{nullptr, file_};
        });
    ASSERT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_->Stop();
    io_.stop();
    thread_.join();
  }

  static tftp::Request Rrq() {
    tftp::Request request;
    request.filename = "f";
    return request;
  }
  // Waits (bounded) until `counter` reaches `value`.
  static bool Reaches(const std::atomic<uint64_t>& counter, uint64_t value) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (counter.load() < value && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return counter.load() >= value;
  }

  const std::string file_ = std::string(700, 'x');  // two blocks of 512
  boost::asio::io_context io_;
  std::unique_ptr<TftpServer> server_;
  std::thread thread_;
};

TEST_F(TftpServerTest, ARepeatedRequestBeforeAnyAckStartsNoSecondTransfer) {
  Client client;
  client.Send(server_->port(), Rrq());
  client.Send(server_->port(), Rrq());  // the network's duplicate, or a retransmission
  auto first = client.Receive();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(std::holds_alternative<tftp::Data>(first->first));
  const uint16_t tid = first->second;
  client.Send(tid, tftp::Ack{1});
  auto second = client.Receive();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->second, tid);  // block 2, from the same and only transfer
  ASSERT_TRUE(std::holds_alternative<tftp::Data>(second->first));
  EXPECT_EQ(std::get<tftp::Data>(second->first).block, 2);
  client.Send(tid, tftp::Ack{2});
  ASSERT_TRUE(Reaches(server_->counters().transfers_done, 1));
  EXPECT_EQ(server_->counters().transfers_started.load(), 1u);
  EXPECT_EQ(server_->counters().duplicate_requests.load(), 1u);
}

TEST_F(TftpServerTest, TheSameRequestOnceTheClientAnsweredIsANewTransfer) {
  Client client;
  client.Send(server_->port(), Rrq());
  auto first = client.Receive();
  ASSERT_TRUE(first.has_value());
  client.Send(first->second, tftp::Ack{1});
  ASSERT_TRUE(client.Receive().has_value());  // block 2; the client gives up here
  // A ROM retrying the file from the same port: a new transfer, a new TID.
  client.Send(server_->port(), Rrq());
  std::optional<std::pair<tftp::Packet, uint16_t>> next;
  do {
    next = client.Receive();  // block 2 again from the old TID may come first
  } while (next.has_value() && next->second == first->second);
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(std::holds_alternative<tftp::Data>(next->first));
  EXPECT_EQ(std::get<tftp::Data>(next->first).block, 1);
  EXPECT_EQ(server_->counters().transfers_started.load(), 2u);
  EXPECT_EQ(server_->counters().duplicate_requests.load(), 0u);
}

}  // namespace
}  // namespace midwife::bootserver
