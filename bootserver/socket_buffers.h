#ifndef MIDWIFE_BOOTSERVER_SOCKET_BUFFERS_H_
#define MIDWIFE_BOOTSERVER_SOCKET_BUFFERS_H_

// A boot storm sends a whole rack's DHCP DISCOVERs and TFTP read requests in
// the same millisecond; a UDP socket's default receive buffer (net.core.
// rmem_default, ~200 KiB) holds a few hundred of them and drops the rest,
// which the firmware then resends only seconds later.

namespace midwife::bootserver {

// Asks for a receive buffer of `bytes` on the UDP socket `fd`: beyond
// net.core.rmem_max when the process may (CAP_NET_ADMIN, as a server on
// ports 67 and 69 usually runs), else up to that cap. Best effort: a socket
// keeps its default when both are refused.
void RequestReceiveBuffer(int fd, int bytes);

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_SOCKET_BUFFERS_H_
