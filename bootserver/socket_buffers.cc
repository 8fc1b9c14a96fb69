#include "bootserver/socket_buffers.h"

#include <sys/socket.h>

namespace midwife::bootserver {

void RequestReceiveBuffer(int fd, int bytes) {
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0) return;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

}  // namespace midwife::bootserver
