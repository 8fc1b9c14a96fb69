#ifndef MIDWIFE_BOOTSERVER_TFTP_DATAGRAM_BATCH_H_
#define MIDWIFE_BOOTSERVER_TFTP_DATAGRAM_BATCH_H_

// Sends a run of datagrams to one peer in as few system calls as the kernel
// allows. A TFTP window (RFC 7440) is a run of DATA packets of one size sent
// back to back: Linux's UDP segmentation offload (UDP_SEGMENT) takes the
// whole run as one buffer and cuts it into datagrams, walking the stack once;
// where it cannot, sendmmsg still sends the run in one call.

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace midwife::bootserver::tftp {

// One datagram gathered from two pieces: a packet header and its payload.
struct TwoPartDatagram {
  std::string_view header;
  std::string_view payload;
};

// Sends `datagrams` in order on the non-blocking UDP socket `fd` to `peer`.
// Returns how many were handed to the kernel: fewer than asked when its
// buffer is full (the rest are as good as lost on the wire, and the caller's
// retransmission covers them), -1 with errno when none could be.
int SendDatagrams(int fd, const sockaddr* peer, socklen_t peer_length,
                  std::span<const TwoPartDatagram> datagrams);

}  // namespace midwife::bootserver::tftp

#endif  // MIDWIFE_BOOTSERVER_TFTP_DATAGRAM_BATCH_H_
