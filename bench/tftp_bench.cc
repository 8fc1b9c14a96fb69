// TFTP benchmark: midwife's TftpServer (run in-process on an io_context with
// --threads threads: the same code the daemon runs) against tftpd-hpa
// (/usr/sbin/in.tftpd -L, a child process) serving the same files to the same
// client, measured in the same run.
//
// The client is written here (one blocking UDP socket per transfer, RRQ with
// blksize/windowsize, DATA received straight into a preallocated buffer, one
// ACK per block or per window) so that it is cheap, supports RFC 7440
// windowsize, and does not depend on the codec under test. In lock-step it
// takes one datagram per recvmsg; inside a window it takes whatever of the
// window is queued in one recvmmsg, as a batch-receiving client would. Every
// datagram is received and its header checked; every transfer is checked
// byte-exact by SHA-256 after its clock stops.
//
//   build/bin/tftp_bench [--big-mib 100] [--runs 3] [--threads 2] [--idle-spin-us 50]
//                        [--concurrent 64] [--concurrent-mib 8]
//                        [--storm 400] [--storm-mib 2] [--tftpd /usr/sbin/in.tftpd]
//                        [--cases 512,1468,w16,w16gro,65464,concurrent,storm]
//
// The windowsize 16 transfer is measured with two clients, a row each. "w16":
// the kernel cuts midwife's segmented window into datagrams and recvmmsg
// takes them. "w16gro": the client turns on UDP_GRO and takes a run of DATA
// that the kernel kept whole (midwife sends a window as one segmented send,
// and loopback does not cut it) in one buffer, then splits it, checks each
// header and copies each payload into place, as a GRO-receiving client does.
// On 2 cores the client's per-datagram cost is half the machine, so the
// second row is nearer what the server alone can do; both are printed.
//
// MB/s are 10^6 bytes of file per second; ratios are midwife / tftpd-hpa.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "bootserver/server/idle_spin_policy.h"
#include "bootserver/server/io_context_pool.h"
#include "bootserver/tftp/tftp_server.h"
#include "core/sha256.h"
#include "tests/support/child_process.h"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using midwife::Sha256Digest;
using midwife::Sha256Of;
using midwife::bootserver::TftpFile;
using midwife::bootserver::TftpServer;
using midwife::bootserver::TftpServerOptions;

struct Settings {
  uint64_t big_bytes = 100ull << 20;
  int runs = 3;
  int threads = 2;
  // The daemon's default (flag --idle-spin-us of bootserver serve).
  int idle_spin_us = static_cast<int>(midwife::bootserver::kDefaultIdleSpin.count());
  int concurrent = 64;
  uint64_t concurrent_bytes = 8ull << 20;
  int storm = 400;
  uint64_t storm_bytes = 2ull << 20;
  std::string tftpd = "/usr/sbin/in.tftpd";
  // Which measurements to run (for quick A/B runs); all by default.
  std::string cases = "512,1468,w16,w16gro,65464,concurrent,storm";
  bool Runs(std::string_view name) const {
    for (std::string_view rest = cases; !rest.empty();) {
      const size_t comma = rest.find(',');
      if (rest.substr(0, comma) == name) return true;
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
    return false;
  }
};

// A client gives up after this many silent waits in a row; each wait is
// longer than the servers' first retransmission timeout (1 s), so the server,
// not the client, drives recovery.
constexpr int kClientRetries = 5;
constexpr int kClientWaitMs = 2500;
// Datagrams one receive call takes inside a window (recvmmsg).
constexpr size_t kClientBatch = 64;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Deterministic bytes that do not compress or repeat at block boundaries.
std::string PseudoRandomBytes(uint64_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t i = 0; i + 8 <= size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  for (uint64_t i = size & ~7ull; i < size; ++i) out[i] = static_cast<char>(i * 31);
  return out;
}

// A read-only mapping of a whole file, unmapped when the last TftpFile
// holding it is gone.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    struct stat st {};
    ::fstat(fd, &st);
    auto file = std::make_shared<MappedFile>();
    file->size_ = static_cast<size_t>(st.st_size);
    if (file->size_ > 0) {
      file->data_ = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
      if (file->data_ == MAP_FAILED) file->data_ = nullptr;
    }
    ::close(fd);
    return file;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

uint16_t FreeUdpPort() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct FetchRequest {
  std::string file;
  uint16_t block_size = 512;  // 512 with no options: a plain RFC 1350 RRQ
  uint16_t window_size = 1;
  // Inside a window, let the kernel hand over a run of DATA that arrived as
  // one segmented send (UDP_GRO) in one buffer, split here.
  bool coalesce = false;
};

struct FetchResult {
  bool ok = false;
  std::string error;
  uint64_t bytes = 0;
  Clock::time_point start, end;
  int client_resends = 0;  // ACKs sent again after a silence mid-transfer
  int rrq_resends = 0;     // RRQs sent again: the request got no answer
  double seconds() const { return std::chrono::duration<double>(end - start).count(); }
};

class UdpSocket {
 public:
  UdpSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~UdpSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

void PutU16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xff));
}

// One read transfer into `buffer` (at least file size + block size bytes).
FetchResult Fetch(uint16_t port, const FetchRequest& request, std::span<uint8_t> buffer) {
  FetchResult result;
  UdpSocket socket;
  const int fd = socket.fd();
  int rcvbuf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  server.sin_port = htons(port);

  std::string rrq;
  PutU16(rrq, 1);
  rrq += request.file;
  rrq.push_back('\0');
  rrq += "octet";
  rrq.push_back('\0');
  const bool options = request.block_size != 512 || request.window_size != 1;
  if (options) {
    rrq += "blksize";
    rrq.push_back('\0');
    rrq += std::to_string(request.block_size);
    rrq.push_back('\0');
    if (request.window_size > 1) {
      rrq += "windowsize";
      rrq.push_back('\0');
      rrq += std::to_string(request.window_size);
      rrq.push_back('\0');
    }
  }

  uint64_t block_size = 512, window = 1;
  uint64_t expected = 1;    // next block index we want (64-bit; wire is 16-bit)
  uint64_t last_acked = 0;  // the block our last ACK named (0: ACK 0 / none)
  uint64_t gap_acked = UINT64_MAX;
  bool have_tid = false, sent_any_ack = false;
  // Inside a window (RFC 7440) after its first block: the next DATA is
  // most likely queued already, so receive first and poll only if it is
  // not. Lock-step transfers (and the wait for a window's first block)
  // always poll first, for both servers alike.
  bool in_window = false;
  sockaddr_in tid{};
  uint8_t ack[4] = {0, 4, 0, 0};
  auto send_ack = [&](uint64_t block) {
    ack[2] = static_cast<uint8_t>((block >> 8) & 0xff);
    ack[3] = static_cast<uint8_t>(block & 0xff);
    ::sendto(fd, ack, 4, 0, reinterpret_cast<sockaddr*>(&tid), sizeof tid);
    sent_any_ack = true;
    in_window = false;
  };

  // One receive call takes one datagram in lock-step (recvmsg) and, inside a
  // window, whatever of the rest of the window is queued, up to kClientBatch
  // (recvmmsg). Datagram i's 4-byte header lands in headers[i] and its
  // payload where block expected+i belongs in `buffer`; one that turns out to
  // be another block is moved into place or dropped.
  std::array<std::array<uint8_t, 4>, kClientBatch> headers;
  std::array<iovec, 2 * kClientBatch> parts;
  std::array<mmsghdr, kClientBatch> messages;
  std::array<sockaddr_in, kClientBatch> senders;
  std::vector<uint8_t> coalesced;
  if (request.coalesce && request.window_size > 1) {
    coalesced.resize(65536);
    int on = 1;
    ::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
  }

  result.start = Clock::now();
  ::sendto(fd, rrq.data(), rrq.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
  int silent = 0;
  bool finished = false;
  while (!finished) {
    const uint64_t first_offset = (expected - 1) * block_size;
    // Room for the largest datagram (an OACK or ERROR may exceed a tiny block).
    const uint64_t slot = std::max<uint64_t>(block_size, 512);
    if (first_offset + slot > buffer.size()) {
      result.error = "server sent more than the file size";
      return result;
    }
    size_t want = 1;
    if (window > 1 && sent_any_ack && block_size >= 512) {  // slots of one block each
      want = static_cast<size_t>(
          std::min<uint64_t>(window - (expected - 1 - last_acked), kClientBatch));
      while (want > 1 && first_offset + (want - 1) * block_size + slot > buffer.size()) --want;
    }
    for (size_t i = 0; i < want; ++i) {
      parts[2 * i] = {headers[i].data(), 4};
      parts[2 * i + 1] = {buffer.data() + first_offset + i * block_size, slot};
      msghdr& m = messages[i].msg_hdr;
      m = msghdr{};
      m.msg_name = &senders[i];
      m.msg_namelen = sizeof senders[i];
      m.msg_iov = &parts[2 * i];
      m.msg_iovlen = 2;
    }
    // How many datagrams were received, or -1.
    // With UDP_GRO on, one buffer may hold several datagrams of gso_size
    // bytes each (the last may be shorter): each goes where recvmmsg would
    // have put it, header into headers[i], payload into its block's place.
    auto receive_coalesced = [&]() -> int {
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      iovec whole{coalesced.data(), coalesced.size()};
      msghdr m{};
      m.msg_name = &senders[0];
      m.msg_namelen = sizeof senders[0];
      m.msg_iov = &whole;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(fd, &m, MSG_DONTWAIT);
      if (n < 0) return -1;
      size_t segment = static_cast<size_t>(n);
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int size = 0;
          std::memcpy(&size, CMSG_DATA(c), sizeof size);
          if (size > 0) segment = static_cast<size_t>(size);
        }
      }
      int count = 0;
      for (size_t at = 0; at < static_cast<size_t>(n) && static_cast<size_t>(count) < want;
           at += segment, ++count) {
        const size_t length = std::min(segment, static_cast<size_t>(n) - at);
        const size_t i = static_cast<size_t>(count);
        senders[i] = senders[0];
        messages[i].msg_hdr.msg_flags = length > 4 + block_size ? MSG_TRUNC : 0;
        messages[i].msg_len = static_cast<unsigned>(length);
        std::memcpy(headers[i].data(), coalesced.data() + at, std::min<size_t>(4, length));
        if (length > 4 && length <= 4 + block_size)
          std::memcpy(buffer.data() + first_offset + i * block_size, coalesced.data() + at + 4,
                      length - 4);
      }
      return count;
    };
    auto receive = [&](bool may_block) -> int {
      if (!coalesced.empty() && sent_any_ack && block_size >= 512) return receive_coalesced();
      if (want == 1) {
        const ssize_t n = ::recvmsg(fd, &messages[0].msg_hdr, may_block ? 0 : MSG_DONTWAIT);
        if (n < 0) return -1;
        messages[0].msg_len = static_cast<unsigned>(n);
        return 1;
      }
      return ::recvmmsg(fd, messages.data(), static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
    };
    int got = in_window ? receive(false) : -1;
    if (got <= 0) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kClientWaitMs) == 0) {
        if (++silent > kClientRetries) {
          result.error = absl::StrFormat("timed out waiting for block %d", expected);
          return result;
        }
        if (!have_tid) {
          ++result.rrq_resends;
          ::sendto(fd, rrq.data(), rrq.size(), 0, reinterpret_cast<sockaddr*>(&server),
                   sizeof server);
        } else if (sent_any_ack) {
          ++result.client_resends;
          send_ack(last_acked);
        }
        continue;
      }
      got = receive(true);
      if (got <= 0) continue;
    }
    for (int i = 0; i < got && !finished; ++i) {
      const uint8_t* header = headers[static_cast<size_t>(i)].data();
      uint8_t* landed = buffer.data() + first_offset + static_cast<uint64_t>(i) * block_size;
      const sockaddr_in& from = senders[static_cast<size_t>(i)];
      const size_t n = messages[static_cast<size_t>(i)].msg_len;
      if (n < 4) continue;
      if (messages[static_cast<size_t>(i)].msg_hdr.msg_flags & MSG_TRUNC) {
        result.error = "datagram larger than the block size";
        return result;
      }
      if (have_tid &&
          (from.sin_port != tid.sin_port || from.sin_addr.s_addr != tid.sin_addr.s_addr))
        continue;  // Not our transfer's TID.
      if (!have_tid) {
        tid = from;
        have_tid = true;
      }
      silent = 0;
      const uint16_t opcode = static_cast<uint16_t>(header[0] << 8 | header[1]);
      const size_t payload = n - 4;
      if (opcode == 5) {
        result.error = "server error " + std::to_string(header[2] << 8 | header[3]) + ": " +
                       std::string(reinterpret_cast<const char*>(landed),
                                   strnlen(reinterpret_cast<const char*>(landed), payload));
        return result;
      }
      if (opcode == 6 && expected == 1 && !sent_any_ack) {
        // OACK: name\0value\0... (its first two bytes landed in header[2..3]).
        std::string body(reinterpret_cast<const char*>(header + 2), 2);
        body.append(reinterpret_cast<const char*>(landed), payload);
        std::map<std::string, std::string> acked;
        size_t at = 0;
        while (at < body.size()) {
          size_t name_end = body.find('\0', at);
          if (name_end == std::string::npos) break;
          size_t value_end = body.find('\0', name_end + 1);
          if (value_end == std::string::npos) break;
          acked[body.substr(at, name_end - at)] =
              body.substr(name_end + 1, value_end - name_end - 1);
          at = value_end + 1;
        }
        if (acked.count("blksize")) block_size = std::stoul(acked["blksize"]);
        if (acked.count("windowsize")) window = std::stoul(acked["windowsize"]);
        send_ack(0);
        continue;
      }
      if (opcode != 3) continue;
      const uint16_t wire = static_cast<uint16_t>(header[2] << 8 | header[3]);
      if (wire != static_cast<uint16_t>(expected) || payload > block_size) {
        // A gap or a repeat: name the last block we hold in order, once per
        // gap, so the sender resumes there (RFC 7440 section 4).
        if (sent_any_ack || expected > 1) {
          if (gap_acked != expected - 1) {
            send_ack(expected - 1);
            last_acked = expected - 1;
            gap_acked = expected - 1;
          }
        }
        continue;
      }
      // After a gap in this batch, a block lands in a later one's place.
      uint8_t* place = buffer.data() + (expected - 1) * block_size;
      if (landed != place) std::memmove(place, landed, payload);
      result.bytes += payload;
      ++expected;
      in_window = window > 1;
      const bool last = payload < block_size;
      if (last || expected - 1 - last_acked >= window) {
        send_ack(expected - 1);
        last_acked = expected - 1;
      }
      if (last) finished = true;
    }
  }
  result.end = Clock::now();
  result.ok = true;
  return result;
}

// Fetches `count` copies of `request` at once, each on its own thread, and
// checks each byte-exact. Returns total file bytes per second (wall clock
// from the common start to the last finish) and counts failures.
struct GroupResult {
  double mb_per_s = 0;
  double server_cpu_seconds = 0;  // the server's user + system CPU over the group
  int failures = 0;
  int resends = 0;
  int rrq_resends = 0;
  std::string first_error;
  // When the first and the last transfer of the group finished, in seconds
  // from the common start: a wide spread means some hosts waited on others.
  double first_done_s = 0;
  double last_done_s = 0;
};

// The CPU seconds a server has used so far.
using CpuSampler = std::function<double()>;

GroupResult FetchMany(uint16_t port, const FetchRequest& request, int count,
                      const Sha256Digest& want, uint64_t size, const CpuSampler& server_cpu) {
  // Each buffer is written once before the clock starts, so that the
  // transfers do not pay the kernel's first-touch page faults (as a client
  // writing into memory it already holds would not).
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  for (int i = 0; i < count; ++i) {
    buffers.push_back(std::make_unique_for_overwrite<uint8_t[]>(size + 65536 + 512));
    std::memset(buffers.back().get(), 0, size + 65536 + 512);
  }
  std::vector<FetchResult> results(static_cast<size_t>(count));
  std::latch ready(count + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      pthread_setname_np(pthread_self(), "tftp-client");
      ready.arrive_and_wait();
      results[static_cast<size_t>(i)] =
          Fetch(port, request,
                std::span<uint8_t>(buffers[static_cast<size_t>(i)].get(), size + 65536 + 512));
    });
  }
  const double cpu_before = server_cpu();
  ready.arrive_and_wait();
  const auto start = Clock::now();
  for (auto& t : threads) t.join();
  GroupResult group;
  group.server_cpu_seconds = server_cpu() - cpu_before;
  auto end = start;
  auto first = Clock::time_point::max();
  uint64_t bytes = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const FetchResult& r = results[i];
    group.resends += r.client_resends;
    group.rrq_resends += r.rrq_resends;
    bool exact = r.ok && r.bytes == size &&
                 Sha256Of(std::string_view(reinterpret_cast<const char*>(buffers[i].get()),
                                           r.bytes)) == want;
    if (!exact) {
      ++group.failures;
      if (group.first_error.empty())
        group.first_error =
            r.ok ? absl::StrFormat("got %d bytes, digest mismatch or short", r.bytes) : r.error;
      continue;
    }
    bytes += r.bytes;
    end = std::max(end, r.end);
    first = std::min(first, r.end);
  }
  const double seconds = std::chrono::duration<double>(end - start).count();
  group.first_done_s = std::chrono::duration<double>(std::min(first, end) - start).count();
  group.last_done_s = seconds;
  group.mb_per_s = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
  return group;
}

// User + system CPU seconds of a thread: utime and stime (fields 14 and 15 of
// its /proc/.../stat).
double CpuSecondsOf(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  if (f.size() < 15) return 0;
  double ticks = std::stod(f[11]) + std::stod(f[12]);  // field 3 is f[0]
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// This process's CPU outside the client threads and the main thread: the
// in-process server's threads.
double InProcessServerCpuSeconds() {
  double total = 0;
  const pid_t self = ::getpid();
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (task.path().filename() == std::to_string(self)) continue;
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "tftp-client") continue;
    total += CpuSecondsOf(task.path() / "stat");
  }
  return total;
}

// The two servers under test, each behind the same port-based interface.
class MidwifeTftp {
 public:
  MidwifeTftp(const std::string& dir, int threads, std::chrono::microseconds idle_spin)
      : work_(asio::make_work_guard(io_)), transfers_(threads, idle_spin) {
    TftpServerOptions options;
    // As the daemon does (bootserver/server/boot_server.cc).
    options.transfer_executor = [this] { return transfers_.Next(); };
    options.address = "127.0.0.1";
    options.port = 0;
    // The wire's largest block (RFC 2348); the daemon's default cap is 1468.
    options.limits.max_block_size = 65464;
    options.max_transfers = 4000;
    server_ = std::make_unique<TftpServer>(
        io_, options,
        [this, dir](const std::string& path, const std::string&) -> absl::StatusOr<TftpFile> {
          std::lock_guard lock(mu_);
          auto& file = files_[path];
          if (!file) file = MappedFile::Open(dir + "/" + path);
          if (!file) return absl::NotFoundError("no file " + path);
          return TftpFile{file, file->bytes()};
        });
    auto status = server_->Start();
    if (!status.ok()) {
      std::fprintf(stderr, "midwife TFTP: %s\n", std::string(status.message()).c_str());
      std::abort();
    }
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "midwife-io");
        io_.run();
      });
    }
  }
  ~MidwifeTftp() {
    server_->Stop();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  uint16_t port() const { return server_->port(); }
  const midwife::bootserver::TftpCounters& counters() const { return server_->counters(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  midwife::bootserver::IoContextPool transfers_;
  std::unique_ptr<TftpServer> server_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<MappedFile>> files_;
  std::vector<std::thread> threads_;
};

class TftpdHpa {
 public:
  TftpdHpa(const std::string& binary, const std::string& dir, const std::string& log)
      : port_(FreeUdpPort()),
        process_({binary, "-L", "-s", dir, "-a", "127.0.0.1:" + std::to_string(port_)}, log) {}
  // Waits until it answers an RRQ (with an error: the probe file is absent).
  bool WaitReady() {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      UdpSocket s;
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port_);
      static const char probe[] = "\0\1no-such-file\0octet";
      ::sendto(s.fd(), probe, sizeof probe, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      pollfd p{s.fd(), POLLIN, 0};
      if (::poll(&p, 1, 200) == 1) return true;
    }
    return false;
  }
  uint16_t port() const { return port_; }
  std::string log() const { return process_.Log(); }

 private:
  uint16_t port_;
  midwife::testing::ChildProcess process_;
};

bool ParseFlags(int argc, char** argv, Settings& s) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "flag %s needs a value\n", flag.c_str());
      return false;
    }
    std::string value = argv[++i];
    if (flag == "--big-mib")
      s.big_bytes = std::stoull(value) << 20;
    else if (flag == "--runs")
      s.runs = std::stoi(value);
    else if (flag == "--threads")
      s.threads = std::stoi(value);
    else if (flag == "--idle-spin-us")
      s.idle_spin_us = std::stoi(value);
    else if (flag == "--concurrent")
      s.concurrent = std::stoi(value);
    else if (flag == "--concurrent-mib")
      s.concurrent_bytes = std::stoull(value) << 20;
    else if (flag == "--storm")
      s.storm = std::stoi(value);
    else if (flag == "--storm-mib")
      s.storm_bytes = std::stoull(value) << 20;
    else if (flag == "--tftpd")
      s.tftpd = value;
    else if (flag == "--cases")
      s.cases = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return false;
    }
  }
  return true;
}

std::string Ratio(double a, double b) { return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-"; }

int Run(const Settings& settings) {
  midwife::testing::TempDir dir;
  midwife::testing::TempDir logs;
  // tftpd-hpa chroots into the folder and drops to `nobody`.
  ::chmod(dir.path().c_str(), 0755);
  struct Blob {
    std::string name;
    uint64_t size;
    Sha256Digest digest;
  };
  std::vector<Blob> blobs = {{"big.bin", settings.big_bytes, {}},
                             {"concurrent.bin", settings.concurrent_bytes, {}},
                             {"storm.bin", settings.storm_bytes, {}}};
  for (size_t i = 0; i < blobs.size(); ++i) {
    std::string bytes = PseudoRandomBytes(blobs[i].size, i + 1);
    blobs[i].digest = Sha256Of(bytes);
    std::ofstream(dir.File(blobs[i].name), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ::chmod(dir.File(blobs[i].name).c_str(), 0644);
  }

  MidwifeTftp midwife(dir.path(), settings.threads,
                      std::chrono::microseconds(settings.idle_spin_us));
  TftpdHpa tftpd(settings.tftpd, dir.path(), logs.File("tftpd.log"));
  if (!tftpd.WaitReady()) {
    std::fprintf(stderr, "tftpd-hpa did not come up: %s\n", tftpd.log().c_str());
    return 1;
  }
  std::printf(
      "TFTP: midwife TftpServer in-process (%d I/O threads, idle spin %d us, port %d) vs tftpd-hpa "
      "%s (port %d)\n",
      settings.threads, settings.idle_spin_us, midwife.port(), settings.tftpd.c_str(), tftpd.port());
  std::printf(
      "same files, same client (this program), medians of %d runs, MB = 10^6 bytes; every transfer "
      "SHA-256 checked\n",
      settings.runs);
  const CpuSampler midwife_cpu = InProcessServerCpuSeconds;
  // tftpd-hpa's CPU is in the children it forks per transfer and lets the
  // kernel reap (SIGCHLD ignored), so no tally of it is kept anywhere.
  const CpuSampler hpa_cpu = [] { return 0.0; };
  std::printf(
      "the client takes one DATA per recvmsg in lock-step, and what is queued of a window (up to "
      "%zu) per recvmmsg\n\n",
      kClientBatch);

  bool all_exact = true;
  auto report_failure = [&](const char* who, const std::string& what, const GroupResult& g) {
    if (g.failures > 0) {
      all_exact = false;
      std::printf("  !! %s %s: %d failed (%s)\n", who, what.c_str(), g.failures,
                  g.first_error.c_str());
    }
  };

  struct Case {
    std::string key;  // its name in --cases
    std::string label;
    FetchRequest request;
    // tftpd-hpa has no windowsize: that row compares with its 1468 lock-step figure.
    FetchRequest hpa_request;
  };
  const Blob& big = blobs[0];
  const FetchRequest lockstep_1468{big.name, 1468, 1};
  std::vector<Case> cases = {
      {"512", "blksize 512 (no options)", {big.name, 512, 1}, {big.name, 512, 1}},
      {"1468", "blksize 1468", lockstep_1468, lockstep_1468},
      {"w16",
       "blksize 1468 windowsize 16 (vs hpa 1468)",
       {big.name, 1468, 16, false},
       lockstep_1468},
      {"w16gro",
       "blksize 1468 windowsize 16, GRO client (vs hpa 1468)",
       {big.name, 1468, 16, true},
       lockstep_1468},
      {"65464", "blksize 65464", {big.name, 65464, 1}, {big.name, 65464, 1}},
  };
  std::vector<double> mw_median(cases.size()), hpa_median(cases.size());
  std::vector<double> mw_cpu_median(cases.size());
  for (size_t c = 0; c < cases.size(); ++c) {
    if (!settings.Runs(cases[c].key)) continue;
    // The windowsize rows reuse the 1468 row's tftpd-hpa runs when there are any.
    const bool windowed = cases[c].request.window_size > 1;
    const bool hpa_measured_already = windowed && settings.Runs(cases[1].key);
    std::vector<double> mw, hpa, mw_cpu;
    for (int run = 0; run < settings.runs; ++run) {
      GroupResult g =
          FetchMany(midwife.port(), cases[c].request, 1, big.digest, big.size, midwife_cpu);
      report_failure("midwife", cases[c].label, g);
      mw.push_back(g.mb_per_s);
      mw_cpu.push_back(g.server_cpu_seconds);
      if (!hpa_measured_already) {
        GroupResult h =
            FetchMany(tftpd.port(), cases[c].hpa_request, 1, big.digest, big.size, hpa_cpu);
        report_failure("tftpd-hpa", cases[c].label, h);
        hpa.push_back(h.mb_per_s);
      }
    }
    mw_median[c] = Median(mw);
    hpa_median[c] = hpa_measured_already ? hpa_median[1] : Median(hpa);
    mw_cpu_median[c] = Median(mw_cpu);
  }

  const std::string heading = "one transfer of " + std::to_string(big.size >> 20) + " MiB";
  std::printf("%-44s %12s %14s %8s %8s  %s\n", heading.c_str(), "midwife MB/s", "tftpd-hpa MB/s",
              "ratio", "goal", "midwife CPU s");
  const char* goals[] = {">=1x", ">=1x", ">=8x", ">=8x", ">=1x"};
  for (size_t c = 0; c < cases.size(); ++c) {
    if (!settings.Runs(cases[c].key)) continue;
    std::printf("%-44s %12.1f %14.1f %8s %8s  %.2f\n", cases[c].label.c_str(), mw_median[c],
                hpa_median[c], Ratio(mw_median[c], hpa_median[c]).c_str(), goals[c],
                mw_cpu_median[c]);
  }

  // Many at once, lockstep 1468 (what a rack of PXE ROMs does).
  if (settings.Runs("concurrent")) {
    const Blob& conc = blobs[1];
    FetchRequest conc_request{conc.name, 1468, 1};
    std::vector<double> mw, hpa, mw_cpu;
    std::string spreads;
    for (int run = 0; run < settings.runs; ++run) {
      GroupResult g = FetchMany(midwife.port(), conc_request, settings.concurrent, conc.digest,
                                conc.size, midwife_cpu);
      report_failure("midwife", "concurrent", g);
      mw.push_back(g.mb_per_s);
      mw_cpu.push_back(g.server_cpu_seconds);
      GroupResult h = FetchMany(tftpd.port(), conc_request, settings.concurrent, conc.digest,
                                conc.size, hpa_cpu);
      report_failure("tftpd-hpa", "concurrent", h);
      hpa.push_back(h.mb_per_s);
      spreads += absl::StrFormat("  run %d: midwife %.0f MB/s, first done %.2f s, last %.2f s; "
                                 "tftpd-hpa %.0f MB/s, first %.2f s, last %.2f s\n",
                                 run + 1, g.mb_per_s, g.first_done_s, g.last_done_s, h.mb_per_s,
                                 h.first_done_s, h.last_done_s);
    }
    std::string label = absl::StrFormat("%d concurrent x %d MiB, blksize 1468 (total)",
                                        settings.concurrent, conc.size >> 20);
    std::printf("%-44s %12.1f %14.1f %8s %8s  %.2f\n", label.c_str(), Median(mw), Median(hpa),
                Ratio(Median(mw), Median(hpa)).c_str(), ">=1.5x", Median(mw_cpu));
    std::printf("%s", spreads.c_str());
  }

  // A storm: every transfer must finish, with no client-side timeouts.
  if (settings.Runs("storm")) {
    const Blob& storm = blobs[2];
    FetchRequest storm_request{storm.name, 1468, 1};
    const uint64_t retrans_before = midwife.counters().retransmissions.load();
    GroupResult gs = FetchMany(midwife.port(), storm_request, settings.storm, storm.digest,
                               storm.size, midwife_cpu);
    const uint64_t retrans = midwife.counters().retransmissions.load() - retrans_before;
    GroupResult hs =
        FetchMany(tftpd.port(), storm_request, settings.storm, storm.digest, storm.size, hpa_cpu);
    std::printf("\n%d concurrent x %d MiB, blksize 1468 (one run):\n", settings.storm,
                static_cast<int>(storm.size >> 20));
    std::printf("  (a client waits %d ms for a packet before sending its RRQ or last ACK again)\n",
                kClientWaitMs);
    std::printf(
        "  midwife:   %d failed, %d RRQs unanswered, %d mid-transfer client timeouts, %llu server "
        "retransmissions, %.1f MB/s total, %.2f s server CPU%s%s\n",
        gs.failures, gs.rrq_resends, gs.resends, static_cast<unsigned long long>(retrans),
        gs.mb_per_s, gs.server_cpu_seconds,
        gs.first_error.empty() ? "" : "; first error: ", gs.first_error.c_str());
    std::printf(
        "  tftpd-hpa: %d failed, %d RRQs unanswered, %d mid-transfer client timeouts, %.1f MB/s "
        "total%s%s\n",
        hs.failures, hs.rrq_resends, hs.resends, hs.mb_per_s,
        hs.first_error.empty() ? "" : "; first error: ", hs.first_error.c_str());
    if (gs.failures > 0 || hs.failures > 0) all_exact = false;
  }

  const auto& counters = midwife.counters();
  std::printf(
      "\nmidwife counters: started=%llu done=%llu failed=%llu retransmissions=%llu refused=%llu\n",
      static_cast<unsigned long long>(counters.transfers_started.load()),
      static_cast<unsigned long long>(counters.transfers_done.load()),
      static_cast<unsigned long long>(counters.transfers_failed.load()),
      static_cast<unsigned long long>(counters.retransmissions.load()),
      static_cast<unsigned long long>(counters.refused.load()));
  std::printf("all transfers byte-exact: %s\n", all_exact ? "yes" : "NO");
  return all_exact ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (!ParseFlags(argc, argv, settings)) return 2;
  return Run(settings);
}
