#include "bootserver/tftp/datagram_batch.h"

#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace midwife::bootserver::tftp {
namespace {

// sendmmsg's own per-call cap on Linux (UIO_MAXIOV) is far above a TFTP
// window; batches are cut at this size so the arrays live on the stack.
constexpr size_t kBatch = 64;

}  // namespace

int SendDatagrams(int fd, const sockaddr* peer, socklen_t peer_length,
                  std::span<const TwoPartDatagram> datagrams) {
  int sent = 0;
  while (!datagrams.empty()) {
    const size_t n = std::min(datagrams.size(), kBatch);
    std::array<iovec, 2 * kBatch> parts;
    std::array<mmsghdr, kBatch> messages{};
    for (size_t i = 0; i < n; ++i) {
      parts[2 * i] = {const_cast<char*>(datagrams[i].header.data()), datagrams[i].header.size()};
      parts[2 * i + 1] = {const_cast<char*>(datagrams[i].payload.data()),
                          datagrams[i].payload.size()};
      msghdr& m = messages[i].msg_hdr;
      m.msg_name = const_cast<sockaddr*>(peer);
      m.msg_namelen = peer_length;
      m.msg_iov = &parts[2 * i];
      m.msg_iovlen = 2;
    }
    int r;
    do {
      r = ::sendmmsg(fd, messages.data(), static_cast<unsigned>(n), 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return sent > 0 ? sent : -1;
    sent += r;
    if (static_cast<size_t>(r) < n) break;  // the socket buffer is full
    datagrams = datagrams.subspan(n);
  }
  return sent;
}

}  // namespace midwife::bootserver::tftp
