#ifndef MIDWIFE_BENCH_STORM_PROCESS_STATS_H_
#define MIDWIFE_BENCH_STORM_PROCESS_STATS_H_

// What the storm reads from /proc about the servers it started: CPU time and
// peak memory per process, and how many datagrams the kernel dropped on a
// UDP socket because its receive buffer was full.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace midwife::bench {

// utime + stime of `pid` in seconds (/proc/<pid>/stat), plus those of its
// reaped children when `with_children` (tftpd-hpa forks one per transfer).
// 0 if the process is gone.
double CpuSeconds(pid_t pid, bool with_children = false);

// A "kB" line of /proc/<pid>/status ("VmHWM", "VmRSS"), in KiB; 0 if absent.
long StatusKib(pid_t pid, const std::string& key);

// Direct children of `pid` (nginx's workers).
std::vector<pid_t> ChildrenOf(pid_t pid);

// Datagrams dropped on full receive buffers, summed over the IPv4 UDP
// sockets of this network namespace bound to local `port` (the "drops"
// column of /proc/net/udp); -1 if no such socket is open.
long UdpDrops(uint16_t port);

// One server process of a stack, measured from Start() to Stop().
class ProcessMeter {
 public:
  ProcessMeter(std::string name, pid_t pid, bool with_children = false);
  // Takes the CPU baseline (call when the storm starts).
  void Start();
  // Reads CPU spent since Start() and the peak RSS (call before the process ends).
  void Stop();
  // For a process replaced mid-storm (the restarted state store): what the old
  // one spent is kept, the new one is measured from now.
  void Replace(pid_t pid);

  const std::string& name() const { return name_; }
  double cpu_seconds() const { return cpu_seconds_; }
  long peak_rss_kib() const { return peak_rss_kib_; }

 private:
  std::string name_;
  pid_t pid_;
  bool with_children_;
  double cpu_start_ = 0;
  double cpu_seconds_ = 0;
  long peak_rss_kib_ = 0;
};

}  // namespace midwife::bench

#endif  // MIDWIFE_BENCH_STORM_PROCESS_STATS_H_
