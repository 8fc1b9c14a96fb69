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
  char buffer[65536];
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

// A lock-step block goes out alone, as one plain sendmsg: header and
// payload joined, nothing before or after it.
TEST(SendDatagrams, SendsALoneDatagramWhole) {
  sockaddr_in receiver_address{}, sender_address{};
  UniqueFd receiver = LoopbackSocket(receiver_address);
  UniqueFd sender = LoopbackSocket(sender_address);
  const std::string header{'\0', '\3', '\0', '\7'};
  const std::string payload(1468, 'p');
  const TwoPartDatagram one[] = {{header, payload}};
  ASSERT_EQ(SendDatagrams(sender.get(), reinterpret_cast<sockaddr*>(&receiver_address),
                          sizeof(receiver_address), one),
            1);
  EXPECT_EQ(ReceiveOne(receiver.get()), header + payload);
  char extra;
  EXPECT_LT(::recv(receiver.get(), &extra, 1, MSG_DONTWAIT), 0) << "a second datagram arrived";
}

// A TFTP window: DATA packets of one size and a short last one, as the
// kernel's segmentation offload takes them, and packets too large to be
// segmented together. Each must arrive as its own datagram, in order.
TEST(SendDatagrams, WindowsOfOneSizeArriveAsSeparateDatagramsInOrder) {
  for (size_t payload_bytes : {size_t{512}, size_t{1468}, size_t{30000}}) {
    sockaddr_in receiver_address{}, sender_address{};
    UniqueFd receiver = LoopbackSocket(receiver_address);
    UniqueFd sender = LoopbackSocket(sender_address);
    int buffer_bytes = 8 << 20;
    ::setsockopt(receiver.get(), SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(sender.get(), SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    const int count = payload_bytes > 10000 ? 5 : 100;
    std::vector<std::string> headers, payloads;
    for (int i = 0; i < count; ++i) {
      headers.push_back(std::string{'\0', '\3', static_cast<char>(i >> 8), static_cast<char>(i)});
      std::string payload(i == count - 1 ? payload_bytes / 3 : payload_bytes, '\0');
      for (size_t b = 0; b < payload.size(); ++b)
        payload[b] = static_cast<char>((b * 7 + i) & 0xff);
      payloads.push_back(payload);
    }
    std::vector<TwoPartDatagram> datagrams;
    for (int i = 0; i < count; ++i) datagrams.push_back({headers[i], payloads[i]});
    ASSERT_EQ(SendDatagrams(sender.get(), reinterpret_cast<sockaddr*>(&receiver_address),
                            sizeof(receiver_address), datagrams),
              count);
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(ReceiveOne(receiver.get()), headers[i] + payloads[i])
          << "datagram " << i << " of " << payload_bytes << "-byte payloads";
    }
    pollfd p{receiver.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 20), 0) << "more datagrams than were sent";
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
