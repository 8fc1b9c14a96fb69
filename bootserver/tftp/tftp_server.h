#ifndef MIDWIFE_BOOTSERVER_TFTP_TFTP_SERVER_H_
#define MIDWIFE_BOOTSERVER_TFTP_TFTP_SERVER_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "bootserver/tftp/tftp_options.h"
#include "bootserver/tftp/tftp_transfer.h"

namespace midwife::bootserver {

class Transfer;

// Bytes a TFTP transfer sends: a view that stays valid while `owner` lives
// (a mapped blob, or a rendered boot.cfg held in memory).
struct TftpFile {
  std::shared_ptr<const void> owner;
  std::string_view bytes;
};

// Finds the file for a normalized request path ("a/b/c") asked by `client`
// (its IP, for per-host virtual files). NOT_FOUND, PERMISSION_DENIED ... map
// to TFTP error codes. Must be thread-safe.
using TftpFileResolver =
    std::function<absl::StatusOr<TftpFile>(const std::string& path, const std::string& client_ip)>;

struct TftpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 69;  // 0: any free port (tests).
  tftp::NegotiationLimits limits;
  tftp::TransferConfig transfer;
  // Transfers in flight at most; more are answered "server busy" (flag --tftp-max-transfers).
  size_t max_transfers = 2000;
  // Where each transfer runs; empty: the server's io_context. A lock-step
  // transfer is fastest when its ACKs are handled on the thread that sent
  // the block, so the daemon gives each thread its own io_context and
  // spreads transfers over them. REQUIRES: each executor returned is run by
  // one thread only (transfers on it get no strand).
  std::function<boost::asio::any_io_executor()> transfer_executor;
};

struct TftpCounters {
  std::atomic<uint64_t> transfers_started{0};
  std::atomic<uint64_t> transfers_done{0};
  std::atomic<uint64_t> transfers_failed{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> retransmissions{0};
  std::atomic<uint64_t> refused{0};
  // RRQs ignored as repeats of one whose transfer had no ACK yet.
  std::atomic<uint64_t> duplicate_requests{0};
};

// The Asio shell around the pure TFTP codec and transfer machine: the
// well-known port takes requests; each transfer gets its own ephemeral port
// (its TID, RFC 1350 section 4) and strand.
//
// A repeated RRQ (same client address and port, same file) while the
// transfer it started has had no ACK or ERROR from the client yet starts no
// second transfer: it is the client retransmitting a request whose answer
// was lost, or the network duplicating it, and that transfer's own
// retransmissions answer it. A second transfer would send the same blocks
// from another TID; clients that take DATA from any port (tftp-hpa) then ACK
// both in turn and stall each. Once the client has answered, the same RRQ
// is a new request (a ROM that reuses its port for a retry).
class TftpServer {
 public:
  TftpServer(boost::asio::io_context& io, TftpServerOptions options, TftpFileResolver resolver);
  ~TftpServer();
  absl::Status Start();
  void Stop();
  uint16_t port() const { return port_; }
  const TftpCounters& counters() const;

 private:
  struct Shared;
  friend class Transfer;
  std::shared_ptr<Shared> shared_;
  uint16_t port_ = 0;
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_TFTP_TFTP_SERVER_H_
