// Boot storm: N diskless hosts powering on at once, against midwife (the real
// statestore and bootserver daemons: ProxyDHCP, TFTP, HTTP) and against the
// usual static stack (dnsmasq's TFTP, or tftpd-hpa, + nginx serving the same
// bytes, each host's boot.ipxe, boot.cfg and state.tgz written out
// beforehand because those servers cannot render them), measured in the
// same run.
//
//   build/bin/boot_storm [--hosts 1000] [--image-mib 50] [--modules 100]
//                        [--concurrency 0] [--threads 2] [--client-threads 2]
//                        [--stack both|midwife|static] [--restart-store-at S]
//                        [--give-up 300] [--tftp-blksize 1432] [--agent on|off]
//                        [--engine rocksdb|etcd] [--boot-servers 1]
//                        [--static-tftp dnsmasq|tftpd-hpa]
//
// --agent off ends each host at its state.tgz (no birth report or state
// upload): then every state store cycle is spent on the boot itself, and the
// "dynamic parts" share is exactly that of boot.ipxe, boot.cfg, state.tgz,
// rules and the bank decision.
// Each host's story is bench/storm/storm_host.h. Time-to-booted is power-on
// to its state uploaded. --concurrency caps how many hosts are booting at
// once (0: all of them at once, a power cut coming back). --restart-store-at
// kills the state store (SIGKILL; with --engine etcd the first frontend) S
// seconds into midwife's storm and starts it again on the same port a second
// later. Peers: Debian's dnsmasq (or tftpd-hpa, --static-tftp tftpd-hpa)
// and nginx-light (scripts/bench-bootserver.sh names them); needs root, as
// both TFTP servers drop to nobody and dnsmasq's listens on port 69.
// --engine etcd starts a 3-member etcd cluster (Debian's etcd-server) on
// loopback and one `statestore serve --engine etcd` frontend per boot
// server; --boot-servers N starts N boot servers (each on its own frontend
// with etcd, all on the one store with RocksDB) and host i boots from boot
// server i mod N. CPU and peak RSS are reported per process (VmHWM of
// /proc/<pid>/status, utime + stime of /proc/<pid>/stat), so the boot
// server's memory is seen apart from the store's.
#include <sys/resource.h>
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "bench/storm/dhcp_hub.h"
#include "bench/storm/http_connection.h"
#include "bench/storm/process_stats.h"
#include "bench/storm/storm_host.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "imagebuilder/host_render.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/image_repository.h"
#include "imagebuilder/state_tarball.h"
#include "statestore/client.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using midwife::MacAddress;
using midwife::statestore::testing::EtcdCluster;
using midwife::testing::BinaryPath;
using midwife::testing::ChildProcess;
using midwife::testing::RunCommand;
using midwife::testing::TempDir;
using namespace midwife::bench;

struct Settings {
  int hosts = 1000;
  double image_mib = 50;
  int modules = 100;
  int concurrency = 0;
  int threads = 2;
  int client_threads = 2;
  std::string stack = "both";
  double restart_store_at = -1;
  int give_up = 300;
  int tftp_blksize = 1432;
  bool agent = true;
  std::string tftpd = "/usr/sbin/in.tftpd";
  std::string dnsmasq = "/usr/sbin/dnsmasq";
  // The static stack's TFTP server: "dnsmasq" or "tftpd-hpa". dnsmasq (one
  // process, every transfer in one event loop) when it is installed: on a
  // 2-core machine tftpd-hpa, which forks a process per RRQ, left hundreds
  // of 1000 simultaneous hosts unanswered.
  std::string static_tftp = std::filesystem::exists("/usr/sbin/dnsmasq") ? "dnsmasq" : "tftpd-hpa";
  std::string nginx = "/usr/sbin/nginx";
  std::string engine = "rocksdb";
  int boot_servers = 1;
};

constexpr int kEtcdMembers = 3;

bool ParseFlags(int argc, char** argv, Settings& s) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (flag == "--hosts")
      s.hosts = std::stoi(v);
    else if (flag == "--image-mib")
      s.image_mib = std::stod(v);
    else if (flag == "--modules")
      s.modules = std::max(1, std::stoi(v));
    else if (flag == "--concurrency")
      s.concurrency = std::stoi(v);
    else if (flag == "--threads")
      s.threads = std::stoi(v);
    else if (flag == "--client-threads")
      s.client_threads = std::stoi(v);
    else if (flag == "--stack")
      s.stack = v;
    else if (flag == "--restart-store-at")
      s.restart_store_at = std::stod(v);
    else if (flag == "--give-up")
      s.give_up = std::stoi(v);
    else if (flag == "--tftp-blksize")
      s.tftp_blksize = std::stoi(v);
    else if (flag == "--agent")
      s.agent = v != "off";
    else if (flag == "--tftpd")
      s.tftpd = v;
    else if (flag == "--static-tftp")
      s.static_tftp = v;
    else if (flag == "--nginx")
      s.nginx = v;
    else if (flag == "--engine")
      s.engine = v;
    else if (flag == "--boot-servers")
      s.boot_servers = std::stoi(v);
    else
      return false;
  }
  return s.hosts > 0 && (s.stack == "both" || s.stack == "midwife" || s.stack == "static") &&
         (s.static_tftp == "dnsmasq" || s.static_tftp == "tftpd-hpa") &&
         (s.engine == "rocksdb" || s.engine == "etcd") && s.boot_servers >= 1 &&
         s.boot_servers <= 16;
}

uint16_t FreePort(int type) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string Bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

struct StormResult {
  std::vector<HostResult> hosts;
  double wall_seconds = 0;
};

// Runs every plan's BootHost on `client_threads` threads, at most
// `concurrency` at once (0: all). Host i boots from servers[i % size]: each
// host talks to one boot server, the fleet is spread evenly.
StormResult RunStorm(const std::vector<HostPlan>& plans, const std::vector<StackPorts>& servers,
                     DhcpHub* hub, asio::io_context& io, const Settings& s,
                     const StormSettings& storm) {
  StormResult out;
  out.hosts.resize(plans.size());
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  const size_t lanes =
      s.concurrency > 0 ? std::min<size_t>(s.concurrency, plans.size()) : plans.size();
  const auto start = Clock::now();
  for (size_t lane = 0; lane < lanes; ++lane) {
    auto strand = asio::make_strand(io);
    asio::co_spawn(
        strand,
        [&, strand]() -> asio::awaitable<void> {
          for (size_t i = next++; i < plans.size(); i = next++) {
            out.hosts[i] =
                co_await BootHost(strand, servers[i % servers.size()], hub, plans[i], storm);
            // The last host down lets io.run() return: the hub's receive is all that is left.
            if (++done == plans.size() && hub != nullptr) hub->Stop();
          }
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < s.client_threads; ++t) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  io.restart();
  out.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Summary {
  double p50 = 0, p99 = 0, max = 0, wall = 0;
  size_t booted = 0;
  std::map<std::string, int> failures;
  std::string first_failure;
  uint64_t bytes = 0;
  int retries = 0;
  double server_cpu = 0;  // All the stack's processes together.
  std::vector<ProcessMeter> processes;
  double phase_p50[static_cast<int>(BootPhase::kCount)] = {};
  double phase_p99[static_cast<int>(BootPhase::kCount)] = {};
};

Summary Summarize(const StormResult& r) {
  Summary s;
  std::vector<double> times;
  for (const HostResult& h : r.hosts) {
    s.bytes += h.bytes;
    s.retries += h.retries;
    if (h.ok) {
      times.push_back(h.seconds);
    } else {
      ++s.failures[h.failure_kind];
      if (s.first_failure.empty()) s.first_failure = h.failure_kind + ": " + h.failure;
    }
  }
  for (int phase = 0; phase < static_cast<int>(BootPhase::kCount); ++phase) {
    std::vector<double> spent;
    for (const HostResult& h : r.hosts) {
      if (h.ok) spent.push_back(h.phase_seconds[phase]);
    }
    s.phase_p50[phase] = Percentile(spent, 0.5);
    s.phase_p99[phase] = Percentile(spent, 0.99);
  }
  s.booted = times.size();
  s.p50 = Percentile(times, 0.5);
  s.p99 = Percentile(times, 0.99);
  s.max = times.empty() ? 0 : *std::max_element(times.begin(), times.end());
  s.wall = r.wall_seconds;
  return s;
}

// Stops every meter (CPU since the storm began, peak RSS) and sums the CPU.
void MeasureProcesses(std::vector<ProcessMeter> meters, Summary& into) {
  into.server_cpu = 0;
  for (ProcessMeter& m : meters) {
    m.Stop();
    into.server_cpu += m.cpu_seconds();
  }
  into.processes = std::move(meters);
}

std::string FailureText(const Summary& s) {
  if (s.failures.empty()) return "none";
  std::string out;
  for (const auto& [kind, n] : s.failures)
    absl::StrAppend(&out, out.empty() ? "" : " ", kind, "=", n);
  return out;
}

// The synthetic ESXi-shaped image: mboot.c32, a kernel, `modules` modules of
// `image_mib` in all (a few big ones, many small, as ESXi's are), imported
// with the project's imagebuilder.
bool MakeImage(const TempDir& work, const Settings& s) {
  const std::string dir = work.File("media");
  std::filesystem::create_directories(dir);
  const double total = s.image_mib * 1024 * 1024;
  std::string modules;
  double weights = 0;
  for (int i = 0; i < s.modules; ++i) weights += 1.0 / (1 + i);
  for (int i = 0; i < s.modules; ++i) {
    const std::string name = absl::StrFormat("m%03d.v00", i);
    const size_t size = std::max<size_t>(4096, static_cast<size_t>(total / weights / (1 + i)));
    if (!midwife::WriteFileAtomically(dir + "/" + name, Bytes(size, 1000 + i)).ok()) return false;
    absl::StrAppend(&modules, i == 0 ? "" : " --- ", "/", name);
  }
  if (!midwife::WriteFileAtomically(dir + "/b.b00", Bytes(1 << 20, 7)).ok()) return false;
  if (!midwife::WriteFileAtomically(dir + "/mboot.c32", Bytes(160 << 10, 8)).ok()) return false;
  if (!midwife::WriteFileAtomically(
           dir + "/boot.cfg",
           "bootstate=0\ntitle=Storm\nkernel=/b.b00\nkernelopt=runweasel\nmodules=" + modules +
               "\nbuild=8.0.2-storm\n")
           .ok()) {
    return false;
  }
  auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", "storm", "--version",
                       "1", "--repo", work.File("repo")});
  if (r.exit_code != 0) std::fprintf(stderr, "import failed: %s\n", r.out.c_str());
  return r.exit_code == 0;
}

struct HostState {
  std::string stored;    // What the store holds before the storm.
  std::string rendered;  // The state.tgz the host must be handed.
};

MacAddress HostMac(int i) {
  return *MacAddress::Parse(absl::StrFormat("02:57:%02x:%02x:%02x:%02x", (i >> 24) & 0xff,
                                            (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff));
}

// ---------------------------------------------------------------- midwife
struct MidwifeRun {
  Summary summary;
  double dynamic_cpu = 0;  // Handler CPU of the per-host routes.
  // The same, route by route, in kDynamicRoutes' order.
  std::vector<double> route_cpu;
  long store_calls = 0;
  // Reads the boot servers' change followers made (state fetches, record,
  // head and rules checks): round trips too, off the boot path.
  long follow_up_reads = 0;
  long boots = 0;
  // Per boot server: datagrams the kernel dropped on its ProxyDHCP (67,
  // 4011) and TFTP sockets for want of receive buffer (-1: not read).
  std::vector<std::array<long, 3>> server_udp_drops;
  uint64_t hub_sent = 0, hub_resent = 0, hub_send_failed = 0, hub_unmatched = 0;
  long hub_drops = -1;
};

std::string MetricsText(uint16_t port) {
  asio::io_context io;
  std::string text;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        HttpConnection c(io.get_executor(), port, std::chrono::seconds(10));
        auto r = co_await c.Get("/metrics", true);
        if (r.ok()) text = r->body;
      },
      asio::detached);
  io.run();
  return text;
}

double SumMetric(const std::string& text, const std::string& pattern) {
  double sum = 0;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    sum += std::stod((*it)[1].str());
  }
  return sum;
}

// A `statestore serve` process: alone over RocksDB, or one of the frontends
// over the etcd cluster.
class StoreProcess {
 public:
  StoreProcess(const TempDir& work, int index, std::string etcd_endpoints)
      : work_(work),
        index_(index),
        etcd_endpoints_(std::move(etcd_endpoints)),
        data_(work.File(absl::StrCat("statestore.", index))),
        address_(absl::StrCat("127.0.0.1:", FreePort(SOCK_STREAM))) {}

  // Starts (or starts again, on the same port and data) and waits until it
  // serves. Frontends after the first share the first one's admin token and
  // host-token secret, as every frontend of one cluster must.
  bool Start() {
    if (index_ > 0 && starts_ == 0) {
      std::filesystem::create_directories(data_);
      for (const char* f : {"admin.token", "host-token.secret"}) {
        std::filesystem::copy_file(work_.File("statestore.0") + "/" + f, data_ + "/" + f,
                                   std::filesystem::copy_options::overwrite_existing);
      }
    }
    const std::string ready = absl::StrCat(data_, ".ready.", starts_);
    std::vector<std::string> argv = {
        BinaryPath("statestore"), "serve", "--data", data_, "--listen", address_,
        "--ready-file",           ready};
    if (!etcd_endpoints_.empty()) {
      argv.insert(argv.end(), {"--engine", "etcd", "--etcd-endpoints", etcd_endpoints_});
    }
    process_ = std::make_unique<ChildProcess>(argv, absl::StrCat(data_, ".", starts_++, ".log"));
    if (midwife::testing::WaitForFile(ready, std::chrono::seconds(30), process_.get()).empty()) {
      std::fprintf(stderr, "statestore %d did not start: %s\n", index_, process_->Log().c_str());
      process_.reset();
      return false;
    }
    return true;
  }
  void Kill() {
    if (process_) process_->Stop(SIGKILL);
    process_.reset();
  }
  void Terminate() {
    if (process_) process_->Stop(SIGTERM);
    process_.reset();
  }
  bool running() const { return process_ != nullptr; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const std::string& address() const { return address_; }
  std::string token_file() const { return data_ + "/admin.token"; }

 private:
  const TempDir& work_;
  int index_;
  std::string etcd_endpoints_;
  std::string data_;
  std::string address_;
  int starts_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

const char* kDynamicRoutes[] = {"boot.ipxe", "boot.cfg", "state.tgz", "report", "state"};

std::string RouteCpuPattern(const char* route) {
  return absl::StrCat(R"(midwife_http_handler_cpu_seconds_total\{route=")",
                      absl::StrReplaceAll(route, {{".", "\\."}}), R"("\} ([0-9.]+))");
}

// One metric summed over every boot server's /metrics.
double SumMetricOver(const std::vector<StackPorts>& servers, const std::string& pattern) {
  double sum = 0;
  for (const StackPorts& p : servers) sum += SumMetric(MetricsText(p.http), pattern);
  return sum;
}

std::optional<MidwifeRun> RunMidwife(const TempDir& work, const Settings& s,
                                     const std::vector<HostPlan>& plans,
                                     const std::vector<HostState>& states,
                                     const StormSettings& storm) {
  // With etcd: a 3-member cluster and one frontend per boot server; with
  // RocksDB one store that every boot server shares.
  std::unique_ptr<EtcdCluster> etcd;
  if (s.engine == "etcd") {
    if (EtcdCluster::Binary().empty()) {
      std::fprintf(stderr, "--engine etcd needs etcd (apt-get install etcd-server)\n");
      return std::nullopt;
    }
    // etcd's default timing (100 ms heartbeat, 1 s election), not the
    // tests' fast one: the storm loads every core and a member that misses
    // heartbeats would call elections in the middle of it.
    etcd = std::make_unique<EtcdCluster>(
        work.File("etcd"), kEtcdMembers,
        std::vector<std::string>{"--heartbeat-interval", "100", "--election-timeout", "1000",
                                 "--auto-compaction-mode", "revision",
                                 "--auto-compaction-retention", "1000"});
    if (!etcd->Start()) {
      std::fprintf(stderr, "etcd did not start: %s\n", etcd->Logs().c_str());
      return std::nullopt;
    }
  }
  const int store_count = etcd ? s.boot_servers : 1;
  std::vector<std::unique_ptr<StoreProcess>> stores;
  for (int i = 0; i < store_count; ++i) {
    stores.push_back(
        std::make_unique<StoreProcess>(work, i, etcd ? etcd->EndpointsFlag() : std::string()));
    if (!stores.back()->Start()) return std::nullopt;
  }
  auto admin_token = midwife::ReadSecretFile(stores[0]->token_file());
  if (!admin_token.ok()) return std::nullopt;

  // Every host's state backed up, and one rule booting them all.
  {
    midwife::statestore::ClientOptions options;
    options.server = stores[0]->address();
    options.token = *admin_token;
    std::atomic<size_t> next{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&] {
        auto client = midwife::statestore::StateStoreClient::Connect(options);
        if (!client.ok()) {
          ++failed;
          return;
        }
        for (size_t i = next++; i < plans.size(); i = next++) {
          if (!(*client)->Backup(plans[i].mac.ToString(), states[i].stored).ok()) ++failed;
        }
      });
    }
    for (auto& w : writers) w.join();
    if (failed > 0) {
      std::fprintf(stderr, "%d backups failed before the storm\n", failed.load());
      return std::nullopt;
    }
  }
  if (!midwife::WriteFileAtomically(work.File("rules.json"),
                                    R"({"rules":[{"name":"storm","image":"storm@1"}]})")
           .ok()) {
    return std::nullopt;
  }
  auto rules = RunCommand({BinaryPath("bootserver"), "rules", "--set", work.File("rules.json"),
                           "--statestore", stores[0]->address(), "--statestore-token-file",
                           stores[0]->token_file()});
  if (rules.exit_code != 0) {
    std::fprintf(stderr, "rules: %s\n", rules.out.c_str());
    return std::nullopt;
  }

  asio::io_context io;
  // One hub for every host: each boot server sends its "broadcast" replies
  // to it, and transaction ids tell whose they are.
  DhcpHub hub(io);
  std::vector<std::unique_ptr<ChildProcess>> boots;
  std::vector<StackPorts> servers;
  for (int b = 0; b < s.boot_servers; ++b) {
    const StoreProcess& store = *stores[b % stores.size()];
    const std::string ready = work.File(absl::StrCat("boot.", b, ".ready"));
    boots.push_back(
        std::make_unique<ChildProcess>(std::vector<std::string>{BinaryPath("bootserver"),
                                                                "serve",
                                                                "--repo",
                                                                work.File("repo"),
                                                                "--statestore",
                                                                store.address(),
                                                                "--statestore-token-file",
                                                                store.token_file(),
                                                                "--http",
                                                                "127.0.0.1:0",
                                                                "--tftp",
                                                                "127.0.0.1:0",
                                                                "--proxydhcp",
                                                                "127.0.0.1:0:0",
                                                                "--dhcp-broadcast-address",
                                                                "127.0.0.1",
                                                                "--dhcp-client-port",
                                                                std::to_string(hub.port()),
                                                                "--advertise",
                                                                "127.0.0.1",
                                                                "--threads",
                                                                std::to_string(s.threads),
                                                                "--ready-file",
                                                                ready},
                                       work.File(absl::StrCat("bootserver.", b, ".log"))));
    const std::string line =
        midwife::testing::WaitForFile(ready, std::chrono::seconds(30), boots.back().get());
    std::smatch m;
    if (!std::regex_search(
            line, m,
            std::regex("http=[0-9.]+:([0-9]+) tftp=([0-9]+) dhcp=([0-9]+) pxe=([0-9]+)"))) {
      std::fprintf(stderr, "bootserver %d did not start: %s\n", b, boots.back()->Log().c_str());
      return std::nullopt;
    }
    servers.push_back(StackPorts{static_cast<uint16_t>(std::stoi(m[1].str())),
                                 static_cast<uint16_t>(std::stoi(m[2].str())),
                                 static_cast<uint16_t>(std::stoi(m[3].str())),
                                 static_cast<uint16_t>(std::stoi(m[4].str()))});
  }
  hub.Start();

  // Named per process; a number only when there are several of a kind.
  auto name = [](const char* kind, int i, int count) {
    return count > 1 ? absl::StrCat(kind, " ", i + 1) : std::string(kind);
  };
  std::vector<ProcessMeter> meters;
  for (int b = 0; b < s.boot_servers; ++b)
    meters.emplace_back(name("bootserver", b, s.boot_servers), boots[b]->pid());
  const size_t first_store_meter = meters.size();
  for (int i = 0; i < store_count; ++i) {
    meters.emplace_back(name(etcd ? "statestore (etcd frontend)" : "statestore", i, store_count),
                        stores[i]->pid());
  }
  for (int i = 0; etcd && i < kEtcdMembers; ++i)
    meters.emplace_back(name("etcd member", i, kEtcdMembers), etcd->Pid(i));
  std::vector<double> route_cpu0;
  for (const char* route : kDynamicRoutes)
    route_cpu0.push_back(SumMetricOver(servers, RouteCpuPattern(route)));
  const double calls0 = SumMetricOver(servers, R"(midwife_store_calls_total ([0-9]+))");
  const char* kFollowUpReads = R"(midwife_store_follow_ups_total\{[^}]*\} ([0-9]+))";
  const double follow_ups0 = SumMetricOver(servers, kFollowUpReads);
  for (ProcessMeter& m : meters) m.Start();

  std::thread restarter;
  std::atomic<bool> storm_over{false};
  std::atomic<bool> restart_settled{s.restart_store_at < 0};
  std::atomic<bool> measured{false};
  if (s.restart_store_at >= 0) {
    restarter = std::thread([&] {
      const auto until = Clock::now() + std::chrono::duration<double>(s.restart_store_at);
      while (Clock::now() < until && !storm_over)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!storm_over) {
        meters[first_store_meter].Stop();
        stores[0]->Kill();
        meters[first_store_meter].Replace(-1);  // Nothing more to measure if it stays down.
        std::printf("  (state store killed at %.1f s; restarting in 1 s)\n", s.restart_store_at);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        if (stores[0]->Start()) meters[first_store_meter].Replace(stores[0]->pid());
      }
      restart_settled = true;
      // The new store dies with the thread that started it (its parent-death
      // signal is tied to this thread): live until it has been measured.
      while (!measured) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    });
  }
  StormResult result = RunStorm(plans, servers, &hub, io, s, storm);
  storm_over = true;
  while (!restart_settled) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  // A boot server's change follower reads a host's record 500 ms after its
  // last change (record_settle), state after a backup: those reads and the
  // store's CPU for them are the storm's too.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  MidwifeRun run;
  run.summary = Summarize(result);
  for (size_t r = 0; r < std::size(kDynamicRoutes); ++r) {
    run.route_cpu.push_back(SumMetricOver(servers, RouteCpuPattern(kDynamicRoutes[r])) -
                            route_cpu0[r]);
    run.dynamic_cpu += run.route_cpu.back();
  }
  run.store_calls =
      static_cast<long>(SumMetricOver(servers, R"(midwife_store_calls_total ([0-9]+))") - calls0);
  run.follow_up_reads = static_cast<long>(SumMetricOver(servers, kFollowUpReads) - follow_ups0);
  run.boots = static_cast<long>(SumMetricOver(servers, R"(midwife_boots_total ([0-9]+))"));
  for (const StackPorts& p : servers) {
    run.server_udp_drops.push_back({UdpDrops(p.dhcp), UdpDrops(p.pxe), UdpDrops(p.tftp)});
  }
  run.hub_sent = hub.counters().sent;
  run.hub_resent = hub.counters().resent;
  run.hub_send_failed = hub.counters().send_failed;
  run.hub_unmatched = hub.counters().unmatched;
  run.hub_drops = hub.counters().drops;
  MeasureProcesses(std::move(meters), run.summary);
  // Every store and etcd cycle is for the per-host parts.
  for (const ProcessMeter& m : run.summary.processes) {
    if (!absl::StartsWith(m.name(), "bootserver")) run.dynamic_cpu += m.cpu_seconds();
  }
  for (auto& b : boots) b->Stop(SIGTERM);
  for (auto& st : stores) st->Terminate();
  measured = true;
  if (restarter.joinable()) restarter.join();
  return run;
}

// ---------------------------------------------------------------- static stack
std::optional<Summary> RunStatic(const TempDir& work, const Settings& s,
                                 const std::vector<HostPlan>& plans,
                                 const std::vector<HostState>& states, const StormSettings& storm) {
  const std::string root = work.File("static");
  std::filesystem::create_directories(root);
  const uint16_t http_port = FreePort(SOCK_STREAM);
  const uint16_t tftp_port = FreePort(SOCK_DGRAM);
  auto repo = midwife::imagebuilder::ImageRepository::Open(work.File("repo"));
  if (!repo.ok()) return std::nullopt;
  auto image = (*repo)->Resolve(*midwife::imagebuilder::ParseImageRef("storm@1"));
  if (!image.ok()) return std::nullopt;
  // Modules under the same URLs midwife uses, as links to the repository's blobs.
  const std::string folder = absl::StrCat(root, "/images/", image->digest.hex());
  std::filesystem::create_directories(folder);
  auto link = [&](const midwife::imagebuilder::ImageModule& m) {
    std::filesystem::create_symlink((*repo)->BlobPath(m.digest), folder + "/" + m.name);
  };
  link(image->image.kernel);
  for (const auto& m : image->image.modules) link(m);
  for (const auto& m : image->image.loaders) link(m);
  const std::string url = absl::StrCat("http://127.0.0.1:", http_port);
  for (size_t i = 0; i < plans.size(); ++i) {
    midwife::imagebuilder::HostBootContext host{plans[i].mac,  url, "static-token", 0,
                                                image->digest, true};
    const std::string dir = absl::StrCat(root, "/boot/", plans[i].mac.ToDashed());
    std::filesystem::create_directories(dir);
    if (!midwife::WriteFileAtomically(
             dir + "/boot.ipxe", midwife::imagebuilder::RenderIpxeScript(
                                     image->image, host, midwife::imagebuilder::Firmware::kBios))
             .ok() ||
        !midwife::WriteFileAtomically(dir + "/boot.cfg",
                                      midwife::imagebuilder::RenderHostBootCfg(image->image, host))
             .ok() ||
        !midwife::WriteFileAtomically(dir + "/state.tgz", states[i].rendered).ok()) {
      return std::nullopt;
    }
  }
  const std::string tftp_root = work.File("tftproot");
  std::filesystem::create_directories(tftp_root);
  std::filesystem::copy_file("/usr/lib/ipxe/undionly.kpxe", tftp_root + "/undionly.kpxe");
  ::chmod(tftp_root.c_str(), 0755);
  ::chmod((tftp_root + "/undionly.kpxe").c_str(), 0644);
  ::chmod(work.path().c_str(), 0755);
  // dnsmasq's TFTP listens on port 69 only (its transfers on ports of their
  // own); tftpd-hpa on any.
  const bool dnsmasq = s.static_tftp == "dnsmasq";
  const uint16_t static_tftp_port = dnsmasq ? 69 : tftp_port;
  std::vector<std::string> tftpd_argv =
      dnsmasq ? std::vector<std::string>{s.dnsmasq,
                                         "--keep-in-foreground",
                                         "--conf-file=/dev/null",
                                         "--port=0",
                                         "--listen-address=127.0.0.1",
                                         "--bind-interfaces",
                                         "--enable-tftp",
                                         "--tftp-root=" + tftp_root,
                                         absl::StrCat("--tftp-max=", s.hosts + 16),
                                         "--pid-file=" + work.File("dnsmasq.pid"),
                                         "--log-facility=" + work.File("dnsmasq-events.log")}
              : std::vector<std::string>{s.tftpd,   "-L", "-s",
                                         tftp_root, "-a", absl::StrCat("127.0.0.1:", tftp_port)};
  ChildProcess tftpd(tftpd_argv, work.File("tftpd.log"));
  {
    std::ofstream conf(work.File("nginx.conf"));
    conf << "worker_processes " << s.threads << ";\nworker_rlimit_nofile 65536;\n"
         << "error_log " << work.File("nginx-error.log") << " warn;\npid " << work.File("nginx.pid")
         << ";\n"
         << "events { worker_connections 20000; }\nhttp {\n  access_log off;\n  sendfile on;\n"
         << "  tcp_nopush on;\n  tcp_nodelay on;\n  keepalive_requests 100000;\n  "
            "keepalive_timeout 65;\n"
         << "  default_type application/octet-stream;\n  client_max_body_size 16m;\n";
    for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
      conf << "  " << temp << "_temp_path " << work.File(std::string(temp) + "_temp") << ";\n";
    conf << "  server {\n    listen 127.0.0.1:" << http_port << " backlog=65535;\n    root " << root
         << ";\n"
         << "    location /hosts/ { return 204; }\n  }\n}\n";
  }
  ChildProcess nginx({s.nginx, "-p", work.path(), "-e", work.File("nginx-error.log"), "-c",
                      work.File("nginx.conf"), "-g", "daemon off;"},
                     work.File("nginx.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // Workers forked, tftpd bound.
  if (int status = 0; tftpd.Exited(&status)) {
    std::fprintf(stderr, "static stack: %s exited at start (status %d); see %s\n",
                 s.static_tftp.c_str(), status, work.File("tftpd.log").c_str());
    nginx.Stop(SIGQUIT);
    return std::nullopt;
  }
  std::vector<ProcessMeter> meters;
  if (dnsmasq) {
    meters.emplace_back("dnsmasq (TFTP)", tftpd.pid());
  } else {
    // tftpd-hpa forks a process per transfer: their CPU counts once reaped,
    // their memory is not seen.
    meters.emplace_back("tftpd-hpa (+ transfers' CPU)", tftpd.pid(), true);
  }
  meters.emplace_back("nginx master", nginx.pid());
  std::vector<pid_t> workers = ChildrenOf(nginx.pid());
  for (size_t w = 0; w < workers.size(); ++w)
    meters.emplace_back(absl::StrCat("nginx worker ", w + 1), workers[w]);
  for (ProcessMeter& m : meters) m.Start();
  asio::io_context io;
  StormResult result =
      RunStorm(plans, {StackPorts{http_port, static_tftp_port, 0, 0}}, nullptr, io, s, storm);
  Summary summary = Summarize(result);
  MeasureProcesses(std::move(meters), summary);
  nginx.Stop(SIGQUIT);
  tftpd.Stop(SIGTERM);
  return summary;
}

std::string Ratio(double a, double b) { return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-"; }

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  if (!ParseFlags(argc, argv, s)) {
    std::fprintf(stderr,
                 "usage: boot_storm [--hosts N] [--image-mib M] [--modules K] [--concurrency C]\n"
                 "  [--threads T] [--client-threads T] [--stack both|midwife|static]\n"
                 "  [--restart-store-at S] [--give-up S] [--tftp-blksize B] [--agent on|off]\n"
                 "  [--engine rocksdb|etcd] [--boot-servers N] [--static-tftp dnsmasq|tftpd-hpa]\n"
                 "--engine etcd: a 3-member etcd cluster on loopback and one state store\n"
                 "  frontend per boot server (needs Debian's etcd-server); rocksdb: one store\n"
                 "--boot-servers N: N boot servers, host i boots from server i mod N\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  TempDir work;
  if (!MakeImage(work, s)) return 1;
  std::vector<HostPlan> plans;
  std::vector<HostState> states;
  for (int i = 0; i < s.hosts; ++i) {
    const std::string conf = absl::StrFormat(
        "/adv/Misc/HostName = \"storm-%06d\"\n/system/uuid = \"%016x\"\n", i, std::mt19937_64(i)());
    HostState st;
    st.stored = midwife::testing::MakeEsxiStateTgz(
        {{"etc/vmware/esx.conf", conf}, {"etc/hosts", "127.0.0.1 localhost\n"}});
    auto rendered = midwife::imagebuilder::EsxiStateFromBackup(st.stored);
    if (!rendered.ok()) return 1;
    st.rendered = *rendered;
    plans.push_back(HostPlan{HostMac(i + 1), midwife::Sha256Hex(st.rendered),
                             midwife::testing::MakeEsxiStateTgz(
                                 {{"etc/vmware/esx.conf", conf + "/adv/Misc/Booted = \"1\"\n"}})});
    states.push_back(std::move(st));
  }
  StormSettings storm;
  storm.tftp.blksize = s.tftp_blksize;
  storm.give_up = std::chrono::seconds(s.give_up);
  storm.agent = s.agent;

  std::printf(
      "boot storm: %d hosts, image of %d modules, %.0f MiB, %s at once; server threads %d, client "
      "threads %d; midwife: %d boot server%s over %s\n",
      s.hosts, s.modules, s.image_mib,
      s.concurrency > 0 ? std::to_string(s.concurrency).c_str() : "all", s.threads,
      s.client_threads, s.boot_servers, s.boot_servers > 1 ? "s" : "",
      s.engine == "etcd"
          ? absl::StrCat(s.boot_servers, " statestore frontend", s.boot_servers > 1 ? "s" : "",
                         " over ", kEtcdMembers, " etcd members")
                .c_str()
          : "one statestore (RocksDB)");
  std::optional<MidwifeRun> mw;
  std::optional<Summary> st;
  if (s.stack != "static") {
    mw = RunMidwife(work, s, plans, states, storm);
    if (!mw) return 1;
  }
  if (s.stack != "midwife") {
    st = RunStatic(work, s, plans, states, storm);
    if (!st) return 1;
  }
  auto row = [](const char* name, const Summary& x) {
    std::printf("%-22s %7zu %9.2fs %9.2fs %9.2fs %9.2fs %10.1f %11.2fs  %s\n", name, x.booted,
                x.p50, x.p99, x.max, x.wall, static_cast<double>(x.bytes) / 1e9, x.server_cpu,
                FailureText(x).c_str());
  };
  std::printf("\n%-22s %7s %10s %10s %10s %10s %10s %12s  %s\n", "stack", "booted", "p50", "p99",
              "max", "wall", "GB", "server CPU", "failures");
  if (mw) row("midwife", mw->summary);
  if (st) row((s.static_tftp + " + nginx").c_str(), *st);
  // Each server process apart: the boot server's memory is what should grow
  // with concurrent transfers and not with the fleet.
  std::printf("\n%-36s %10s %14s\n", "per process", "CPU", "peak RSS MiB");
  auto processes = [](const char* stack, const Summary& x) {
    for (const ProcessMeter& m : x.processes) {
      std::printf("%-36s %9.2fs %14.1f\n", absl::StrCat(stack, " ", m.name()).c_str(),
                  m.cpu_seconds(), static_cast<double>(m.peak_rss_kib()) / 1024);
    }
  };
  if (mw) processes("midwife", mw->summary);
  if (st) processes("static", *st);
  // Where a host's time goes, step by step: p50 / p99 of each stack.
  std::printf("\n%-22s", "seconds per step");
  for (const char* name : kBootPhaseNames) std::printf(" %15s", name);
  std::printf("\n");
  auto phases = [](const char* name, const Summary& x) {
    std::printf("%-22s", name);
    for (int i = 0; i < static_cast<int>(BootPhase::kCount); ++i) {
      std::printf(" %15s", absl::StrFormat("%.3f/%.3f", x.phase_p50[i], x.phase_p99[i]).c_str());
    }
    std::printf("\n");
  };
  if (mw) phases("midwife p50/p99", mw->summary);
  if (st) phases("static p50/p99", *st);
  if (mw && st) {
    std::printf("\nmidwife / static: p50 %s, p99 %s (goal <= 0.50x), wall %s, server CPU %s\n",
                Ratio(mw->summary.p50, st->p50).c_str(), Ratio(mw->summary.p99, st->p99).c_str(),
                Ratio(mw->summary.wall, st->wall).c_str(),
                Ratio(mw->summary.server_cpu, st->server_cpu).c_str());
  }
  if (mw) {
    std::printf(
        "midwife: per-host dynamic parts (handler CPU of boot.ipxe, boot.cfg, state.tgz%s, plus "
        "all state store%s CPU) %.2fs of %.2fs server CPU = %.1f%% (goal < 5%%)\n",
        s.agent ? ", report, state upload" : "", s.engine == "etcd" ? " and etcd" : "",
        mw->dynamic_cpu, mw->summary.server_cpu,
        mw->summary.server_cpu > 0 ? 100 * mw->dynamic_cpu / mw->summary.server_cpu : 0);
    std::printf("midwife: handler CPU by route:");
    for (size_t r = 0; r < mw->route_cpu.size(); ++r) {
      if (!s.agent && r >= 3) break;  // no report or upload without the agent
      std::printf(" %s %.2fs", kDynamicRoutes[r], mw->route_cpu[r]);
    }
    std::printf("\n");
    std::printf(
        "midwife: %ld store round trips for %zu hosts booted (%d retries followed), and %ld "
        "reads by the change follower\n",
        mw->store_calls, mw->summary.booted, mw->summary.retries, mw->follow_up_reads);
    // A ProxyDHCP step slower than its server's work: were datagrams lost
    // (resends, kernel drops), and on which socket?
    std::printf(
        "midwife: ProxyDHCP %llu sent, %llu resent after a backoff, %llu send errors, %llu late "
        "or duplicate replies; kernel drops (full receive buffer): hosts' socket %ld",
        static_cast<unsigned long long>(mw->hub_sent),
        static_cast<unsigned long long>(mw->hub_resent),
        static_cast<unsigned long long>(mw->hub_send_failed),
        static_cast<unsigned long long>(mw->hub_unmatched), mw->hub_drops);
    for (size_t b = 0; b < mw->server_udp_drops.size(); ++b) {
      const auto& d = mw->server_udp_drops[b];
      std::printf(
          ", %sdhcp %ld, pxe %ld, tftp %ld",
          mw->server_udp_drops.size() > 1 ? absl::StrCat("server ", b + 1, " ").c_str() : "", d[0],
          d[1], d[2]);
    }
    std::printf("\n");
    if (!mw->summary.first_failure.empty())
      std::printf("midwife first failure: %s\n", mw->summary.first_failure.c_str());
  }
  if (st && !st->first_failure.empty())
    std::printf("static first failure: %s\n", st->first_failure.c_str());
  const bool clean = (!mw || mw->summary.failures.empty()) && (!st || st->failures.empty());
  return clean ? 0 : 1;
}
