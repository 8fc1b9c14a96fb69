#include "bootserver/tftp/datagram_batch.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace midwife::bootserver::tftp {
namespace {

// Datagrams per system call. sendmmsg's own cap is far higher, and the
// kernel takes up to 64 segments per GSO send on every version that has it.
constexpr size_t kBatch = 64;
// Largest UDP payload: a GSO send's whole run must fit in one.
constexpr size_t kMaxUdpPayload = 65507;

// Cleared the first time the kernel says it has no UDP segmentation at all:
// every later send then takes the sendmmsg path.
std::atomic<bool> segmentation_works{true};

bool KernelLacksSegmentation(int error) { return error == ENOPROTOOPT || error == EOPNOTSUPP; }

// EINVAL (a segment larger than the route's MTU, or a kernel older than
// UDP_SEGMENT) and EIO (a device that cannot checksum it): this run goes one
// message each instead.
bool RunCannotBeSegmented(int error) { return error == EINVAL || error == EIO; }

// How many datagrams from the front of `datagrams` one GSO send can carry:
// all of one size, except that the last may be shorter, and their total
// within one UDP payload.
size_t SegmentRun(std::span<const TwoPartDatagram> datagrams) {
  const size_t segment = datagrams[0].header.size() + datagrams[0].payload.size();
  if (segment == 0) return 1;
  const size_t most = std::min(kBatch, kMaxUdpPayload / segment);
  size_t n = 1;
  while (n < datagrams.size() && n < most) {
    const size_t size = datagrams[n].header.size() + datagrams[n].payload.size();
    if (size > segment || size == 0) break;
    ++n;
    if (size < segment) break;  // a short one ends the run
  }
  return n;
}

// Header and payload of each datagram, in order: two iovecs a datagram.
// REQUIRES: datagrams.size() <= kBatch.
void GatherParts(std::span<const TwoPartDatagram> datagrams, std::array<iovec, 2 * kBatch>& parts) {
  for (size_t i = 0; i < datagrams.size(); ++i) {
    parts[2 * i] = {const_cast<char*>(datagrams[i].header.data()), datagrams[i].header.size()};
    parts[2 * i + 1] = {const_cast<char*>(datagrams[i].payload.data()),
                        datagrams[i].payload.size()};
  }
}

// One sendmsg of `run` as a single buffer the kernel cuts into datagrams of
// the first one's size (UDP generic segmentation offload): the stack is
// walked once for the run, not once a datagram.
ssize_t SendSegmented(int fd, const sockaddr* peer, socklen_t peer_length,
                      std::span<const TwoPartDatagram> run) {
  std::array<iovec, 2 * kBatch> parts;
  GatherParts(run, parts);
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(peer);
  m.msg_namelen = peer_length;
  m.msg_iov = parts.data();
  m.msg_iovlen = 2 * run.size();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
  if (run.size() > 1) {
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    const uint16_t segment = static_cast<uint16_t>(run[0].header.size() + run[0].payload.size());
    std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
  }
  ssize_t r;
  do {
    r = ::sendmsg(fd, &m, 0);
  } while (r < 0 && errno == EINTR);
  return r;
}

// The same datagrams, one message each, in one sendmmsg call per batch.
int SendEach(int fd, const sockaddr* peer, socklen_t peer_length,
             std::span<const TwoPartDatagram> datagrams) {
  int sent = 0;
  while (!datagrams.empty()) {
    const size_t n = std::min(datagrams.size(), kBatch);
    std::array<iovec, 2 * kBatch> parts;
    GatherParts(datagrams.first(n), parts);
    std::array<mmsghdr, kBatch> messages{};
    for (size_t i = 0; i < n; ++i) {
      msghdr& m = messages[i].msg_hdr;
      m.msg_name = const_cast<sockaddr*>(peer);
      m.msg_namelen = peer_length;
      m.msg_iov = &parts[2 * i];
      m.msg_iovlen = 2;
    }
    int r;
    do {
      // One alone (a lock-step block, a window's odd last one) goes as a
      // plain sendmsg, without sendmmsg's vector to copy in.
      r = n == 1 ? (::sendmsg(fd, &messages[0].msg_hdr, 0) < 0 ? -1 : 1)
                 : ::sendmmsg(fd, messages.data(), static_cast<unsigned>(n), 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return sent > 0 ? sent : -1;
    sent += r;
    if (static_cast<size_t>(r) < n) break;  // the socket buffer is full
    datagrams = datagrams.subspan(n);
  }
  return sent;
}

}  // namespace

int SendDatagrams(int fd, const sockaddr* peer, socklen_t peer_length,
                  std::span<const TwoPartDatagram> datagrams) {
  int sent = 0;
  while (!datagrams.empty() && segmentation_works.load(std::memory_order_relaxed)) {
    const size_t n = SegmentRun(datagrams);
    if (n == 1) {
      // Nothing to segment: whatever follows goes one message each.
      break;
    }
    if (SendSegmented(fd, peer, peer_length, datagrams.first(n)) >= 0) {
      sent += static_cast<int>(n);
      datagrams = datagrams.subspan(n);
      continue;
    }
    const int error = errno;
    if (KernelLacksSegmentation(error)) {
      segmentation_works.store(false, std::memory_order_relaxed);
      break;
    }
    if (!RunCannotBeSegmented(error))
      return sent > 0 ? sent : -1;  // full buffer, or the peer is gone
    const int each = SendEach(fd, peer, peer_length, datagrams.first(n));
    if (each < 0) return sent > 0 ? sent : -1;
    sent += each;
    if (static_cast<size_t>(each) < n) return sent;
    datagrams = datagrams.subspan(n);
  }
  if (datagrams.empty()) return sent;
  const int rest = SendEach(fd, peer, peer_length, datagrams);
  if (rest < 0) return sent > 0 ? sent : -1;
  return sent + rest;
}

}  // namespace midwife::bootserver::tftp
