#ifndef MIDWIFE_BOOTSERVER_HTTP_TCP_CORK_H_
#define MIDWIFE_BOOTSERVER_HTTP_TCP_CORK_H_

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace midwife::bootserver {

// Holds TCP_CORK on a socket for its lifetime (nginx's tcp_nopush with
// sendfile): while corked, the kernel sends only full segments. A large
// file goes out in many sendfile calls, each cut short when the socket
// buffer fills; uncorked (and with TCP_NODELAY), the end of every call
// pushes a short segment, so the receiver takes more, smaller packets and
// wakes more often. Uncorking at the end sends whatever is left at once.
// A failure to cork only costs that packing, so it is not reported.
class TcpCork {
 public:
  explicit TcpCork(int fd) : fd_(fd) { Set(1); }
  ~TcpCork() { Set(0); }
  TcpCork(const TcpCork&) = delete;
  TcpCork& operator=(const TcpCork&) = delete;

 private:
  void Set(int on) { ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)); }
  int fd_;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_HTTP_TCP_CORK_H_
