// HTTP benchmark: midwife's HttpServer against nginx serving the same bytes,
// measured in the same run with the same clients.
//
// midwife runs as a child process (this binary re-executed with
// --serve-midwife) so its peak RSS is its own: an HttpServer on an
// io_context with --threads threads, with two routes:
//   GET /blob.bin                     the file, via ServeResource and sendfile,
//                                     opened per request as the boot service
//                                     opens blobs
//   GET /boot/<mac-dashed>/boot.cfg   RenderHostBootCfg per request (about
//                                     2 KiB), as the boot service does
//   GET /module.bin                   a 10 KiB file kept open between
//                                     requests (OpenBlobCache), as the boot
//                                     service serves an image's modules
// nginx (worker_processes = --threads, sendfile on, access_log off) serves the
// same blob.bin and, for any /boot/<mac>/boot.cfg, the same rendered boot.cfg
// as a static file.
//
// Clients: the blob is fetched by a small blocking client here (one thread
// per connection, keep-alive, 1 MiB reads); boot.cfg and module.bin by wrk
// with --latency. For module.bin each server's CPU time per request is
// printed too (utime + stime of the midwife child, of nginx's workers): a
// storm asks for about a hundred modules per host, so that is what a storm's
// server CPU is mostly made of.
// Bodies are checked byte-exact (SHA-256) against both servers first.
//
//   build/bin/http_bench [--blob-mib 100] [--runs 3] [--threads 2] [--idle-spin-us 50]
//                        [--blob-seconds 4] [--blob-conns 16]
//                        [--cfg-seconds 5] [--cfg-conns 64]
//                        [--nginx /usr/sbin/nginx] [--wrk /usr/bin/wrk]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>

#include "bootserver/server/idle_spin_policy.h"
#include "bootserver/server/io_context_pool.h"
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <latch>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "bootserver/boot/open_blob_cache.h"
#include "bootserver/http/http_resource.h"
#include "bootserver/http/http_server.h"
#include "core/file_io.h"
#include "core/mac_address.h"
#include "core/sha256.h"
#include "imagebuilder/host_render.h"
#include "tests/support/child_process.h"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using midwife::MacAddress;
using midwife::Sha256Hex;
using midwife::bootserver::HttpRequest;
using midwife::bootserver::HttpResource;
using midwife::bootserver::HttpResponse;
using midwife::bootserver::OpenFile;
using midwife::testing::ChildProcess;
using midwife::testing::TempDir;

struct Settings {
  uint64_t blob_bytes = 100ull << 20;
  int runs = 3;
  int threads = 2;
  // The daemon's default (flag --idle-spin-us of bootserver serve).
  int idle_spin_us = static_cast<int>(midwife::bootserver::kDefaultIdleSpin.count());
  double blob_seconds = 4;
  int blob_conns = 16;
  double cfg_seconds = 5;
  int cfg_conns = 64;
  std::string nginx = "/usr/sbin/nginx";
  std::string wrk = "/usr/bin/wrk";
};

constexpr char kMac[] = "02-00-5e-10-00-01";
constexpr char kServerUrl[] = "http://192.0.2.1:8080";

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// An ESXi 8-like image: about 110 modules, so boot.cfg renders to ~2 KiB.
midwife::imagebuilder::ImageManifest BenchImage() {
  using midwife::imagebuilder::BlobDigest;
  using midwife::imagebuilder::ImageModule;
  midwife::imagebuilder::ImageManifest image;
  image.ref = {"esxi", "8.0u2-22380479"};
  image.kind = midwife::imagebuilder::ImageKind::kEsxi;
  image.title = "Loading ESXi installer";
  image.timeout = 5;
  image.kernelopt = "runweasel cdromBoot";
  image.build = "8.0.2-0.0.22380479";
  image.kernel = ImageModule{"b.b00", BlobDigest::Of("b.b00"), 1 << 20, ""};
  const char* names[] = {"jumpstrt.gz", "useropts.gz", "features.gz", "k.b00",    "uc_intel.b00",
                         "uc_amd.b00",  "uc_hygon.b00", "procfs.b00", "vmx.v00",  "vim.v00",
                         "tpm.v00",     "sb.v00",       "s.v00",      "atlantic.v00", "bcm_mpi3.v00",
                         "bnxtnet.v00", "bnxtroce.v00", "brcmfcoe.v00", "cndi_igc.v00", "dwi2c.v00",
                         "elxiscsi.v00", "elxnet.v00",  "i40en.v00",  "iavmd.v00", "icen.v00",
                         "igbn.v00",    "ionic_en.v00", "irdman.v00", "iser.v00", "ixgben.v00",
                         "lpfc.v00",    "lpnic.v00",    "lsi_mr3.v00", "lsi_msgp.v00", "lsi_msgp.v01",
                         "mtip32xx.v00", "ne1000.v00",  "nenic.v00",  "nfnic.v00", "nhpsa.v00",
                         "nmlx4_co.v00", "nmlx4_en.v00", "nmlx4_rd.v00", "nmlx5_co.v00", "nmlx5_rd.v00",
                         "ntg3.v00",    "nvme_pci.v00", "nvmerdma.v00", "nvmetcp.v00", "nvmxnet3.v00",
                         "pvscsi.v00",  "qcnic.v00",    "qedentv.v00", "qedrntv.v00", "qfle3.v00",
                         "qflge.v00",   "qlnative.v00", "rste.v00",   "sfvmk.v00", "smartpqi.v00",
                         "vmkata.v00",  "vmksdhci.v00", "vmkusb.v00", "vmw_ahci.v00", "bmcal.v00",
                         "esxdp.v00",   "trx.v00",      "esx_ui.v00", "esxupdt.v00", "tpmesxup.v00",
                         "weaselin.v00", "loadesx.v00", "xorg.v00",   "gc.v00",    "imgdb.tgz",
                         "basemisc.tgz", "resvibs.tgz", "esxio_co.v00", "esxiodpt.v00", "crx.v00",
                         "elx_esx_.v00", "btldr.v00",   "esx_dvfi.v00", "esx_ui_1.v00", "lsuv2_hp.v00",
                         "lsuv2_in.v00", "lsuv2_ls.v00", "lsuv2_nv.v00", "lsuv2_oe.v00", "lsuv2_oe.v01",
                         "lsuv2_sm.v00", "native_m.v00", "qlnative.v01", "vdfs.v00",  "vmware_e.v00",
                         "vsan.v00",    "vsanheal.v00", "vsanmgmt.v00", "infravis.v00", "drivervm.v00",
                         "clusters.v00", "cpu_mode.v00", "hpe_gen1.v00", "dell_opt.v00", "nsxt_esx.v00"};
  for (const char* name : names) image.modules.push_back(ImageModule{name, BlobDigest::Of(name), 4096, ""});
  return image;
}

midwife::imagebuilder::HostBootContext BenchHost(const MacAddress& mac) {
  return midwife::imagebuilder::HostBootContext{
      .mac = mac,
      .server_url = kServerUrl,
      .host_token = "3f9c2a7be4d1480c9a6e5b2d7c1f0e8a",
      .bootstate = 0,
      .image_digest = midwife::imagebuilder::BlobDigest::Of("manifest"),
      .has_state = true,
  };
}

// ---- midwife server (child process) ----

int ServeMidwife(const std::string& root, int threads, std::chrono::microseconds idle_spin,
                 const std::string& port_file) {
  const auto image = BenchImage();
  midwife::bootserver::OpenBlobCache open_blobs;
  const auto module_digest = midwife::imagebuilder::BlobDigest::Of("module.bin");
  midwife::bootserver::HttpHandlers handlers;
  handlers.handle = [&image, &open_blobs, &module_digest, root](const HttpRequest& request) -> HttpResponse {
    if (request.path == "/module.bin") {
      auto blob = open_blobs.Find(module_digest);
      if (blob == nullptr) {
        midwife::bootserver::OpenBlobCache::Blob opened;
        opened.path = root + "/module.bin";
        int fd = ::open(opened.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return midwife::bootserver::TextResponse(404, "no module");
        opened.file = std::make_shared<OpenFile>(fd);
        struct stat st {};
        ::fstat(fd, &st);
        opened.size = static_cast<uint64_t>(st.st_size);
        opened.identity = midwife::bootserver::FileIdentity::Of(st);
        open_blobs.Insert(module_digest, opened);
        blob = std::make_shared<const midwife::bootserver::OpenBlobCache::Blob>(std::move(opened));
      }
      HttpResource resource;
      resource.file = blob->file;
      resource.file_size = blob->size;
      resource.etag = "sha256:module";
      resource.cache_control = "public, max-age=31536000, immutable";
      return midwife::bootserver::ServeResource(request, std::move(resource));
    }
    if (request.path == "/blob.bin") {
      int fd = ::open((root + "/blob.bin").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return midwife::bootserver::TextResponse(404, "no blob");
      HttpResource resource;
      resource.file = std::make_shared<OpenFile>(fd);
      struct stat st {};
      ::fstat(fd, &st);
      resource.file_size = static_cast<uint64_t>(st.st_size);
      resource.etag = "sha256:bench";
      resource.cache_control = "public, max-age=31536000, immutable";
      return midwife::bootserver::ServeResource(request, std::move(resource));
    }
    // /boot/<mac>/boot.cfg
    constexpr std::string_view kPrefix = "/boot/", kSuffix = "/boot.cfg";
    std::string_view path = request.path;
    if (path.starts_with(kPrefix) && path.ends_with(kSuffix)) {
      auto mac = MacAddress::Parse(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
      if (!mac.ok()) return midwife::bootserver::TextResponse(400, std::string(mac.status().message()));
      HttpResponse r;
      r.body = midwife::imagebuilder::RenderHostBootCfg(image, BenchHost(*mac));
      r.headers.emplace_back("Content-Type", "text/plain");
      r.headers.emplace_back("Cache-Control", "no-store");
      return r;
    }
    return midwife::bootserver::TextResponse(404, "not found");
  };
  asio::io_context io;
  // As the daemon does (bootserver/server/boot_server.cc): connections on
  // per-thread io_contexts, the main one only accepts.
  midwife::bootserver::IoContextPool workers(threads, idle_spin);
  midwife::bootserver::HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.session_executor = [&] { return workers.Next(); };
  midwife::bootserver::HttpServer server(io, options, handlers);
  auto status = server.Start();
  if (!status.ok()) {
    std::fprintf(stderr, "midwife HTTP: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.Stop();
    io.stop();
  });
  {
    std::ofstream(port_file + ".tmp") << server.port();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  io.run();
  workers.Stop();
  return 0;
}

// ---- clients ----

uint16_t FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class TcpConnection {
 public:
  explicit TcpConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~TcpConnection() { ::close(fd_); }
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  bool ok() const { return ok_; }
  int fd() const { return fd_; }

 private:
  int fd_;
  bool ok_ = false;
};

// Sends a GET and reads the header; leaves `*pending` holding body bytes that
// came with it. Returns the Content-Length, or nullopt.
std::optional<uint64_t> StartGet(TcpConnection& c, const std::string& path, std::string* pending,
                                 int* status) {
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(c.fd(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    return std::nullopt;
  std::string head;
  char chunk[4096];
  size_t end;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(c.fd(), chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    head.append(chunk, static_cast<size_t>(n));
  }
  *pending = head.substr(end + 4);
  head.resize(end);
  *status = std::atoi(head.c_str() + 9);
  std::string lower = head;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(lower.c_str() + at + 17, nullptr, 10);
}

struct Fetched {
  int status = 0;
  std::string body;
};

std::optional<Fetched> Get(uint16_t port, const std::string& path) {
  TcpConnection c(port);
  if (!c.ok()) return std::nullopt;
  Fetched f;
  auto length = StartGet(c, path, &f.body, &f.status);
  if (!length) return std::nullopt;
  std::vector<char> buffer(1 << 20);
  while (f.body.size() < *length) {
    ssize_t n = ::recv(c.fd(), buffer.data(), std::min<size_t>(buffer.size(), *length - f.body.size()), 0);
    if (n <= 0) return std::nullopt;
    f.body.append(buffer.data(), static_cast<size_t>(n));
  }
  return f;
}

// Body bytes of /blob.bin received per second over `conns` keep-alive
// connections for `seconds` (partial bodies at the deadline count).
double BlobThroughput(uint16_t port, int conns, double seconds, int* errors) {
  std::atomic<uint64_t> total{0};
  std::atomic<int> failed{0};
  std::latch ready(conns + 1);
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (int i = 0; i < conns; ++i) {
    threads.emplace_back([&] {
      TcpConnection c(port);
      std::vector<char> buffer(1 << 20);
      ready.arrive_and_wait();
      uint64_t got = 0;
      while (c.ok() && Clock::now() < deadline) {
        std::string pending;
        int status = 0;
        auto length = StartGet(c, "/blob.bin", &pending, &status);
        if (!length || status != 200) {
          ++failed;
          break;
        }
        uint64_t left = *length - pending.size();
        got += pending.size();
        while (left > 0 && Clock::now() < deadline) {
          ssize_t n = ::recv(c.fd(), buffer.data(), std::min<uint64_t>(buffer.size(), left), 0);
          if (n <= 0) {
            ++failed;
            left = 0;
            break;
          }
          left -= static_cast<uint64_t>(n);
          got += static_cast<uint64_t>(n);
        }
        if (left > 0) break;  // The deadline cut a body short.
      }
      total += got;
    });
  }
  deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  ready.arrive_and_wait();
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::min(Clock::now(), deadline) - start).count();
  *errors += failed.load();
  return static_cast<double>(total.load()) / elapsed / 1e9;
}

struct WrkResult {
  double rps = 0;
  double requests = 0;  // completed
  double p50_ms = 0, p99_ms = 0;
  long errors = 0;
  std::string raw;
};

double ToMs(double value, const std::string& unit) {
  if (unit == "us") return value / 1000;
  if (unit == "s") return value * 1000;
  if (unit == "m") return value * 60000;
  return value;
}

WrkResult RunWrk(const Settings& s, uint16_t port, const std::string& path) {
  auto r = midwife::testing::RunCommand(
      {s.wrk, "-t2", "-c" + std::to_string(s.cfg_conns), "-d" + absl::StrFormat("%.0fs", s.cfg_seconds),
       "--latency", absl::StrFormat("http://127.0.0.1:%d%s", port, path)});
  WrkResult w;
  w.raw = r.out;
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) w.rps = std::stod(m[1]);
  if (std::regex_search(r.out, m, std::regex(R"(([0-9]+) requests in )"))) w.requests = std::stod(m[1]);
  if (std::regex_search(r.out, m, std::regex(R"(\n\s+50%\s+([0-9.]+)(us|ms|s|m))")))
    w.p50_ms = ToMs(std::stod(m[1]), m[2]);
  if (std::regex_search(r.out, m, std::regex(R"(\n\s+99%\s+([0-9.]+)(us|ms|s|m))")))
    w.p99_ms = ToMs(std::stod(m[1]), m[2]);
  if (std::regex_search(r.out, m, std::regex(R"(Non-2xx or 3xx responses:\s+([0-9]+))"))) w.errors += std::stol(m[1]);
  if (std::regex_search(r.out, m, std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))")))
    w.errors += std::stol(m[1]) + std::stol(m[2]) + std::stol(m[3]) + std::stol(m[4]);
  return w;
}

// ---- process memory ----

long StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return -1;
}

void ResetPeak(pid_t pid) { std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5"; }

std::vector<pid_t> Children(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t child;
  while (in >> child) out.push_back(child);
  return out;
}

// nginx's master plus workers.
long NginxKb(pid_t master, const std::string& key) {
  long total = std::max(0L, StatusKb(master, key));
  for (pid_t worker : Children(master)) total += std::max(0L, StatusKb(worker, key));
  return total;
}

// utime + stime of a process, seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // The command name may hold spaces.
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double NginxCpuSeconds(pid_t master) {
  double total = CpuSeconds(master);
  for (pid_t worker : Children(master)) total += CpuSeconds(worker);
  return total;
}

bool WaitForTcp(uint16_t port, ChildProcess& process) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status;
    if (process.Exited(&status)) return false;
    TcpConnection c(port);
    if (c.ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool ParseFlags(int argc, char** argv, Settings& s) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "flag %s needs a value\n", flag.c_str());
      return false;
    }
    std::string value = argv[++i];
    if (flag == "--blob-mib") s.blob_bytes = std::stoull(value) << 20;
    else if (flag == "--runs") s.runs = std::stoi(value);
    else if (flag == "--threads") s.threads = std::stoi(value);
    else if (flag == "--idle-spin-us") s.idle_spin_us = std::stoi(value);
    else if (flag == "--blob-seconds") s.blob_seconds = std::stod(value);
    else if (flag == "--blob-conns") s.blob_conns = std::stoi(value);
    else if (flag == "--cfg-seconds") s.cfg_seconds = std::stod(value);
    else if (flag == "--cfg-conns") s.cfg_conns = std::stoi(value);
    else if (flag == "--nginx") s.nginx = value;
    else if (flag == "--wrk") s.wrk = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return false;
    }
  }
  return true;
}

std::string Ratio(double a, double b) { return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-"; }

std::string SelfPath() {
  char buffer[4096];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

int Run(const Settings& s) {
  TempDir root, work;
  // nginx workers run as `nobody`.
  ::chmod(root.path().c_str(), 0755);
  ::chmod(work.path().c_str(), 0755);

  std::string blob(s.blob_bytes, '\0');
  {
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i + 8 <= blob.size(); i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::memcpy(blob.data() + i, &x, 8);
    }
  }
  const std::string blob_sha = Sha256Hex(blob);
  std::ofstream(root.File("blob.bin"), std::ios::binary).write(blob.data(), static_cast<std::streamsize>(blob.size()));
  blob.clear();
  blob.shrink_to_fit();
  const std::string boot_cfg =
      midwife::imagebuilder::RenderHostBootCfg(BenchImage(), BenchHost(*MacAddress::Parse(kMac)));
  std::ofstream(root.File("boot.cfg"), std::ios::binary) << boot_cfg;
  {
    std::string module(10 * 1024, '\0');
    for (size_t i = 0; i < module.size(); ++i) module[i] = static_cast<char>((i * 2654435761u) >> 13);
    std::ofstream(root.File("module.bin"), std::ios::binary) << module;
  }
  ::chmod(root.File("module.bin").c_str(), 0644);
  ::chmod(root.File("blob.bin").c_str(), 0644);
  ::chmod(root.File("boot.cfg").c_str(), 0644);

  // midwife
  const std::string port_file = work.File("midwife.port");
  ChildProcess midwife({SelfPath(), "--serve-midwife", root.path(), std::to_string(s.threads),
                        std::to_string(s.idle_spin_us), port_file},
                       work.File("midwife.log"));
  std::string port_text = midwife::testing::WaitForFile(port_file, std::chrono::seconds(10), &midwife);
  if (port_text.empty()) {
    std::fprintf(stderr, "midwife server did not start: %s\n", midwife.Log().c_str());
    return 1;
  }
  const uint16_t mw_port = static_cast<uint16_t>(std::stoi(port_text));

  // nginx
  const uint16_t nginx_port = FreeTcpPort();
  {
    std::ofstream conf(work.File("nginx.conf"));
    conf << "worker_processes " << s.threads << ";\n"
         << "error_log " << work.File("nginx-error.log") << " warn;\n"
         << "pid " << work.File("nginx.pid") << ";\n"
         << "events { worker_connections 4096; }\n"
         << "http {\n"
         << "  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
         << "  keepalive_requests 100000000;\n  keepalive_timeout 65;\n"
         << "  default_type application/octet-stream;\n";
    for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
      conf << "  " << temp << "_temp_path " << work.File(std::string(temp) + "_temp") << ";\n";
    conf << "  server {\n    listen 127.0.0.1:" << nginx_port << ";\n    root " << root.path() << ";\n"
         << "    location ~ ^/boot/[^/]+/boot\\.cfg$ {\n      default_type text/plain;\n"
         << "      add_header Cache-Control no-store;\n      try_files /boot.cfg =404;\n    }\n  }\n}\n";
  }
  ChildProcess nginx({s.nginx, "-p", work.path(), "-e", work.File("nginx-error.log"), "-c",
                      work.File("nginx.conf"), "-g", "daemon off;"},
                     work.File("nginx.log"));
  if (!WaitForTcp(nginx_port, nginx)) {
    std::fprintf(stderr, "nginx did not start: %s\n", nginx.Log().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the workers fork

  std::printf(
      "HTTP: midwife HttpServer (child pid %d, %d I/O threads, idle spin %d us, port %d) vs nginx "
      "(%d workers, port %d)\n",
      midwife.pid(), s.threads, s.idle_spin_us, mw_port, s.threads, nginx_port);
  std::printf("same files, same clients, medians of %d runs; GB = 10^9 bytes\n", s.runs);

  // Byte-exact first.
  const std::string cfg_path = std::string("/boot/") + kMac + "/boot.cfg";
  bool exact = true;
  for (auto [name, port] : {std::pair<const char*, uint16_t>{"midwife", mw_port}, {"nginx", nginx_port}}) {
    auto b = Get(port, "/blob.bin");
    auto c = Get(port, cfg_path);
    auto m = Get(port, "/module.bin");
    bool blob_ok = b && b->status == 200 && Sha256Hex(b->body) == blob_sha;
    bool cfg_ok = c && c->status == 200 && c->body == boot_cfg;
    bool module_ok = m && m->status == 200 && m->body == *midwife::ReadFile(root.File("module.bin"));
    std::printf("  %-8s blob.bin %s, boot.cfg %s, module.bin %s\n", name, blob_ok ? "sha256 ok" : "WRONG",
                cfg_ok ? "identical" : "WRONG", module_ok ? "identical" : "WRONG");
    exact = exact && blob_ok && cfg_ok && module_ok;
  }
  std::printf("  boot.cfg is %zu bytes\n\n", boot_cfg.size());

  // Blob throughput.
  ResetPeak(midwife.pid());
  int blob_errors = 0;
  std::vector<double> mw_many, ng_many, mw_one, ng_one;
  for (int run = 0; run < s.runs; ++run) {
    mw_many.push_back(BlobThroughput(mw_port, s.blob_conns, s.blob_seconds, &blob_errors));
    ng_many.push_back(BlobThroughput(nginx_port, s.blob_conns, s.blob_seconds, &blob_errors));
    mw_one.push_back(BlobThroughput(mw_port, 1, s.blob_seconds, &blob_errors));
    ng_one.push_back(BlobThroughput(nginx_port, 1, s.blob_seconds, &blob_errors));
  }
  const long blob_hwm = StatusKb(midwife.pid(), "VmHWM");

  // boot.cfg requests.
  ResetPeak(midwife.pid());
  std::vector<double> mw_rps, ng_rps, mw_p99, ng_p99, mw_p50, ng_p50;
  long cfg_errors = 0;
  long nginx_hwm = 0;
  for (int run = 0; run < s.runs; ++run) {
    WrkResult m = RunWrk(s, mw_port, cfg_path);
    WrkResult n = RunWrk(s, nginx_port, cfg_path);
    if (m.rps == 0 || n.rps == 0) std::fprintf(stderr, "wrk output:\n%s\n%s\n", m.raw.c_str(), n.raw.c_str());
    mw_rps.push_back(m.rps);
    ng_rps.push_back(n.rps);
    mw_p99.push_back(m.p99_ms);
    ng_p99.push_back(n.p99_ms);
    mw_p50.push_back(m.p50_ms);
    ng_p50.push_back(n.p50_ms);
    cfg_errors += m.errors + n.errors;
    nginx_hwm = std::max(nginx_hwm, NginxKb(nginx.pid(), "VmHWM"));
  }
  const long cfg_hwm = StatusKb(midwife.pid(), "VmHWM");

  // Small modules: requests/s and server CPU per request.
  std::vector<double> mw_mod_rps, ng_mod_rps, mw_mod_cpu, ng_mod_cpu;
  for (int run = 0; run < s.runs; ++run) {
    double cpu = CpuSeconds(midwife.pid());
    WrkResult m = RunWrk(s, mw_port, "/module.bin");
    mw_mod_cpu.push_back(m.requests > 0 ? (CpuSeconds(midwife.pid()) - cpu) / m.requests * 1e6 : 0);
    cpu = NginxCpuSeconds(nginx.pid());
    WrkResult n = RunWrk(s, nginx_port, "/module.bin");
    ng_mod_cpu.push_back(n.requests > 0 ? (NginxCpuSeconds(nginx.pid()) - cpu) / n.requests * 1e6 : 0);
    if (m.rps == 0 || n.rps == 0) std::fprintf(stderr, "wrk output:\n%s\n%s\n", m.raw.c_str(), n.raw.c_str());
    mw_mod_rps.push_back(m.rps);
    ng_mod_rps.push_back(n.rps);
    cfg_errors += m.errors + n.errors;
  }

  const std::string blob_label = std::to_string(s.blob_bytes >> 20) + " MiB blob";
  std::printf("%-40s %12s %12s %8s %8s\n", "", "midwife", "nginx", "ratio", "goal");
  std::printf("%-40s %12.2f %12.2f %8s %8s\n",
              (blob_label + ", " + std::to_string(s.blob_conns) + " connections (GB/s)").c_str(), Median(mw_many),
              Median(ng_many), Ratio(Median(mw_many), Median(ng_many)).c_str(), ">=0.9x");
  std::printf("%-40s %12.2f %12.2f %8s %8s\n", (blob_label + ", 1 connection (GB/s)").c_str(), Median(mw_one),
              Median(ng_one), Ratio(Median(mw_one), Median(ng_one)).c_str(), ">=0.9x");
  const std::string cfg_label = "boot.cfg, " + std::to_string(s.cfg_conns) + " keep-alive conns";
  std::printf("%-40s %12.0f %12.0f %8s %8s\n", (cfg_label + " (req/s)").c_str(), Median(mw_rps), Median(ng_rps),
              Ratio(Median(mw_rps), Median(ng_rps)).c_str(), ">=0.5x");
  std::printf("%-40s %12.2f %12.2f %8s\n", "  p50 latency (ms)", Median(mw_p50), Median(ng_p50),
              Ratio(Median(mw_p50), Median(ng_p50)).c_str());
  std::printf("%-40s %12.2f %12.2f %8s %8s\n", "  p99 latency (ms)", Median(mw_p99), Median(ng_p99),
              Ratio(Median(mw_p99), Median(ng_p99)).c_str(), "<=2x");
  const std::string module_label = "10 KiB module, " + std::to_string(s.cfg_conns) + " keep-alive conns";
  std::printf("%-40s %12.0f %12.0f %8s\n", (module_label + " (req/s)").c_str(), Median(mw_mod_rps),
              Median(ng_mod_rps), Ratio(Median(mw_mod_rps), Median(ng_mod_rps)).c_str());
  std::printf("%-40s %12.1f %12.1f %8s\n", "  server CPU per request (us)", Median(mw_mod_cpu),
              Median(ng_mod_cpu), Ratio(Median(mw_mod_cpu), Median(ng_mod_cpu)).c_str());
  std::printf("\nmidwife peak RSS (VmHWM): %ld KiB during the blob runs, %ld KiB during the boot.cfg runs\n",
              blob_hwm, cfg_hwm);
  std::printf("nginx peak RSS (master + workers, VmHWM summed): %ld KiB\n", nginx_hwm);
  std::printf("errors: blob client %d, wrk %ld; bodies byte-exact: %s\n", blob_errors, cfg_errors,
              exact ? "yes" : "NO");
  midwife.Stop(SIGTERM);
  nginx.Stop(SIGQUIT);
  return exact && blob_errors == 0 && cfg_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--serve-midwife")
    return ServeMidwife(argv[2], std::atoi(argv[3]), std::chrono::microseconds(std::atoi(argv[4])),
                        argv[5]);
  Settings settings;
  if (!ParseFlags(argc, argv, settings)) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  return Run(settings);
}
