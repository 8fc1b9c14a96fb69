#include "bench/storm/process_stats.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"

namespace midwife::bench {

double CpuSeconds(pid_t pid, bool with_children) {
  std::ifstream stat(absl::StrFormat("/proc/%d/stat", pid));
  std::string line;
  std::getline(stat, line);
  if (line.empty()) return 0;
  // Fields after the command name, which may hold spaces: state is field 3,
  // utime 14, stime 15, cutime 16, cstime 17 (proc(5)).
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 17 && rest >> field; ++i) {
    if (i == 14 || i == 15 || (with_children && (i == 16 || i == 17))) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKib(pid_t pid, const std::string& key) {
  std::ifstream status(absl::StrFormat("/proc/%d/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return 0;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  std::ifstream f(absl::StrFormat("/proc/%d/task/%d/children", pid, pid));
  pid_t c;
  while (f >> c) out.push_back(c);
  return out;
}

long UdpDrops(uint16_t port) {
  std::ifstream udp("/proc/net/udp");
  std::string line;
  std::getline(udp, line);  // Header.
  long drops = -1;
  while (std::getline(udp, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
    // inode ref pointer drops; local_address is hex IP:port.
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    if (f.size() < 13) continue;
    const size_t colon = f[1].find(':');
    if (colon == std::string::npos || std::stoul(f[1].substr(colon + 1), nullptr, 16) != port)
      continue;
    drops = std::max(drops, 0L) + std::stol(f[12]);
  }
  return drops;
}

ProcessMeter::ProcessMeter(std::string name, pid_t pid, bool with_children)
    : name_(std::move(name)), pid_(pid), with_children_(with_children) {}

void ProcessMeter::Start() { cpu_start_ = CpuSeconds(pid_, with_children_); }

void ProcessMeter::Stop() {
  cpu_seconds_ += CpuSeconds(pid_, with_children_) - cpu_start_;
  cpu_start_ = CpuSeconds(pid_, with_children_);
  peak_rss_kib_ = std::max(peak_rss_kib_, StatusKib(pid_, "VmHWM"));
}

void ProcessMeter::Replace(pid_t pid) {
  pid_ = pid;
  cpu_start_ = CpuSeconds(pid_, with_children_);
}

}  // namespace midwife::bench
