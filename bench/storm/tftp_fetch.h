#ifndef MIDWIFE_BENCH_STORM_TFTP_FETCH_H_
#define MIDWIFE_BENCH_STORM_TFTP_FETCH_H_

// A firmware's TFTP read (RFC 1350 with blksize, tsize and, when asked,
// windowsize), written here so the storm does not test the server's codec
// with itself. Retransmits its last ACK on silence, gives up after a few.

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace midwife::bench {

struct TftpFetchOptions {
  int blksize = 1432;   // What iPXE asks for.
  int windowsize = 1;   // 1: not asked (PXE ROMs and iPXE do not).
  std::chrono::milliseconds timeout{1000};
  int max_retries = 6;
};

// Bytes received, or why the transfer failed.
boost::asio::awaitable<absl::StatusOr<uint64_t>> TftpFetch(boost::asio::any_io_executor executor,
                                                           uint16_t port, std::string file,
                                                           TftpFetchOptions options);

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_TFTP_FETCH_H_
