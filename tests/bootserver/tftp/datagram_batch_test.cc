#include "bootserver/tftp/datagram_batch.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>

#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace midwife::bootserver::tftp {
namespace {

// A UDP socket bound to an ephemeral loopback port.
UniqueFd LoopbackSocket(sockaddr_in& bound) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  bound = {};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(bound);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof(bound)), 0);
  EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
  return fd;
}

std::string ReceiveOne(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) != 1) return "<nothing within 5 s>";
  char buffer[2048];
  const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
  return n < 0 ? "<recv failed>" : std::string(buffer, static_cast<size_t>(n));
}

TEST(SendDatagrams, SendsEachHeaderAndPayloadAsOneDatagramInOrderPastOneBatch) {
  sockaddr_in receiver_address{}, sender_address{};
  UniqueFd receiver = LoopbackSocket(receiver_address);
  UniqueFd sender = LoopbackSocket(sender_address);
  int buffer_bytes = 4 << 20;
  ::setsockopt(receiver.get(), SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));

  // 150 datagrams: more than one sendmmsg batch of 64, and an empty payload
  // (a TFTP file whose size is a multiple of the block size ends that way).
  std::vector<std::string> headers, payloads;
  for (int i = 0; i < 150; ++i) {
    headers.push_back(std::string("H") + std::to_string(i) + ":");
    payloads.push_back(i == 149 ? std::string()
                                : std::string(100 + i, static_cast<char>('a' + i % 26)));
  }
  std::vector<TwoPartDatagram> datagrams;
  for (int i = 0; i < 150; ++i) datagrams.push_back({headers[i], payloads[i]});

  const int sent = SendDatagrams(sender.get(), reinterpret_cast<sockaddr*>(&receiver_address),
                                 sizeof(receiver_address), datagrams);
  ASSERT_EQ(sent, 150);
  for (int i = 0; i < 150; ++i) {
    ASSERT_EQ(ReceiveOne(receiver.get()), headers[i] + payloads[i]) << "datagram " << i;
  }
}

TEST(SendDatagrams, NothingToSendSendsNothing) {
  sockaddr_in receiver_address{}, sender_address{};
  UniqueFd receiver = LoopbackSocket(receiver_address);
  UniqueFd sender = LoopbackSocket(sender_address);
  EXPECT_EQ(SendDatagrams(sender.get(), reinterpret_cast<sockaddr*>(&receiver_address),
                          sizeof(receiver_address), {}),
            0);
  pollfd p{receiver.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 50), 0);
}

TEST(SendDatagrams, ASocketThatCannotSendReportsMinusOneWithErrno) {
  sockaddr_in receiver_address{};
  UniqueFd receiver = LoopbackSocket(receiver_address);
  const std::string header = "H", payload = "P";
  const TwoPartDatagram one{header, payload};
  errno = 0;
  EXPECT_EQ(SendDatagrams(-1, reinterpret_cast<sockaddr*>(&receiver_address),
                          sizeof(receiver_address), std::span<const TwoPartDatagram>(&one, 1)),
            -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace midwife::bootserver::tftp
