// Integration: a site boot server with an empty repository pulls images and
// blobs through from a primary boot server (docs/SITE_CACHE.md). Real state
// store and boot server processes on loopback, driven by curl.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <filesystem>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "tests/statestore/statestore_server.h"
#include "tests/bootserver/test_bytes.h"
#include "tests/support/child_process.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kMac[] = "00:50:56:aa:cc:01";
constexpr char kMacDashed[] = "00-50-56-aa-cc-01";

std::string Bytes(size_t n, uint32_t seed) { return ::midwife::bootserver::testing::SeededBytes(n, seed); }

// The value of a Prometheus line `name` (labels included) in `metrics`; -1 if absent.
long Metric(const std::string& metrics, const std::string& name) {
  size_t at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stol(metrics.substr(at + name.size() + 2));
}

// An upstream that answers every GET with what `mode` says: the right bytes
// of `content`, wrong bytes, a 500, or a connection closed without an answer.
class FakeUpstream {
 public:
  enum class Mode { kRight, kSlow, kWrong, kServerError, kHangUp };
  explicit FakeUpstream(std::string content) : content_(std::move(content)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    ::listen(listener_, 64);
    socklen_t len = sizeof local;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&local), &len);
    port_ = ntohs(local.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  void set_mode(Mode mode) { mode_ = mode; }
  int requests() const { return requests_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      ++requests_;
      std::string body = content_;
      std::string status = "200 OK";
      switch (mode_.load()) {
        case Mode::kRight: break;
        case Mode::kSlow: std::this_thread::sleep_for(std::chrono::seconds(1)); break;
        case Mode::kWrong: body[body.size() / 2] ^= 1; break;
        case Mode::kServerError: status = "500 Internal Server Error"; body = "disk on fire\n"; break;
        case Mode::kHangUp: body.clear(); break;
      }
      if (mode_ != Mode::kHangUp) {
        const std::string response = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Length: ", body.size(),
                                                  "\r\nConnection: close\r\n\r\n", body);
        for (size_t sent = 0; sent < response.size();) {
          ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
      }
      ::close(fd);
    }
  }

  std::string content_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::kRight};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

class SiteCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<statestore::testing::StateStoreServer>(tmp_.File("data"));
    ASSERT_TRUE(store_->Start()) << store_->log();
  }

  // An ESXi-shaped image in the primary's repository.
  void MakeImage(const std::string& version, const std::string& big_module) {
    const std::string dir = tmp_.File("media" + version);
    ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", dir}).exit_code, 0);
    ASSERT_TRUE(WriteFileAtomically(dir + "/boot.cfg",
                                    "bootstate=0\ntitle=Site ESXi " + version +
                                        "\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- /s.v00\n")
                    .ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/b.b00", "kernel " + version).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/jumpstrt.gz", "jump " + version).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/s.v00", big_module).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/mboot.efi", "MZ mboot " + version).ok());
    auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", "esxi", "--version", version,
                         "--repo", tmp_.File("primary-repo")});
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  // Starts a boot server on its own repository; returns its base URL.
  std::string StartBootServer(const std::string& name, std::vector<std::string> extra) {
    const std::string ready = tmp_.File(name + ".ready");
    std::vector<std::string> argv = {BinaryPath("bootserver"), "serve", "--repo", tmp_.File(name + "-repo"),
                                     "--statestore", store_->address(), "--statestore-token-file",
                                     tmp_.File("data/admin.token"), "--http", "127.0.0.1:0", "--tftp", "",
                                     "--advertise", "127.0.0.1", "--ready-file", ready, "--threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    servers_.push_back(std::make_unique<midwife::testing::ChildProcess>(argv, tmp_.File(name + ".log")));
    std::string line = midwife::testing::WaitForFile(ready, std::chrono::seconds(20), servers_.back().get());
    std::smatch m;
    if (!std::regex_search(line, m, std::regex("http=([0-9.:]+)"))) {
      ADD_FAILURE() << name << " did not start: " << servers_.back()->Log();
      return "";
    }
    return "http://" + m[1].str();
  }
  std::string StartPrimary() { return StartBootServer("primary", {}); }
  std::string StartSite(const std::string& upstream, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--upstream", upstream});
    return StartBootServer("site", extra);
  }
  std::string SiteCacheDir() const { return tmp_.File("site-repo/site-cache"); }
  std::vector<std::string> SiteCacheFiles() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(SiteCacheDir(), ec)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  midwife::testing::CommandResult Admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("bootserver")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--statestore", store_->address(), "--statestore-token-file",
                             tmp_.File("data/admin.token")});
    return RunCommand(argv);
  }
  static midwife::testing::CommandResult Curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "30"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  static std::string Get(const std::string& url) { return Curl({url}).out; }
  static std::string StatusOf(const std::string& url) {
    return Curl({"-o", "/dev/null", "-w", "%{http_code}", url}).out;
  }

  TempDir tmp_;
  std::unique_ptr<statestore::testing::StateStoreServer> store_;
  std::vector<std::unique_ptr<midwife::testing::ChildProcess>> servers_;
};

TEST_F(SiteCacheTest, HostBootsThroughASiteServerWithAnEmptyRepository) {
  const std::string big = Bytes(4 << 20, 7);
  MakeImage("1", big);
  const std::string primary = StartPrimary();
  const std::string site = StartSite(primary);
  ASSERT_FALSE(site.empty());
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);

  const std::string script =
      Get(absl::StrCat(site, "/boot/", kMacDashed, "/boot.ipxe?platform=efi&manufacturer=VMware"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("chain (http://[0-9.:]+)(/images/[0-9a-f]{64})/mboot.efi")))
      << script;
  EXPECT_EQ(m[1].str(), site);  // hosts at the site never talk to the primary
  const std::string images = site + m[2].str();
  const std::string cfg = Get(absl::StrCat(site, "/boot/", kMacDashed, "/boot.cfg"));
  EXPECT_THAT(cfg, HasSubstr("prefix=" + images));
  EXPECT_THAT(cfg, HasSubstr("kernel=b.b00"));

  EXPECT_EQ(Get(images + "/mboot.efi"), "MZ mboot 1");
  EXPECT_EQ(Get(images + "/b.b00"), "kernel 1");
  EXPECT_EQ(Get(images + "/jumpstrt.gz"), "jump 1");
  EXPECT_EQ(Sha256Hex(Get(images + "/s.v00")), Sha256Hex(big));
  // Range on a pulled blob, as on a local one.
  EXPECT_EQ(Curl({"-r", "10-19", images + "/s.v00"}).out, big.substr(10, 10));

  // Manifest, config and four modules crossed once; the second boot is local.
  const std::string before = Get(site + "/metrics");
  EXPECT_EQ(Metric(before, "midwife_upstream_fetches_total{result=\"ok\"}"), 6) << before;
  EXPECT_EQ(Metric(before, "midwife_upstream_fetches_total{result=\"failed\"}"), 0);
  Get(absl::StrCat(site, "/boot/", kMacDashed, "/boot.ipxe?platform=efi"));
  EXPECT_EQ(Sha256Hex(Get(images + "/s.v00")), Sha256Hex(big));
  EXPECT_EQ(Metric(Get(site + "/metrics"), "midwife_upstream_fetches_total{result=\"ok\"}"), 6);
  // The site's repository stays empty: pulled blobs live in its cache only.
  auto list = RunCommand({BinaryPath("imagebuilder"), "list", "--repo", tmp_.File("site-repo")});
  EXPECT_THAT(list.out, ::testing::Not(HasSubstr("esxi")));
}

TEST_F(SiteCacheTest, ManifestRouteNamesTheImageByDigest) {
  MakeImage("1", Bytes(1000, 3));
  const std::string primary = StartPrimary();
  auto headers = Curl({"-D", "-", "-o", tmp_.File("manifest.json"), primary + "/images/esxi@1/manifest"}).out;
  std::smatch etag;
  ASSERT_TRUE(std::regex_search(headers, etag, std::regex("ETag: \"sha256:([0-9a-f]{64})\""))) << headers;
  EXPECT_EQ(Sha256Hex(*ReadFile(tmp_.File("manifest.json"))), etag[1].str());
  EXPECT_EQ(StatusOf(primary + "/images/esxi@9/manifest"), "404");
}

TEST_F(SiteCacheTest, SixteenHostsAskingForOneMissingBlobCauseOneUpstreamFetch) {
  const std::string big = Bytes(24 << 20, 11);
  MakeImage("1", big);
  const std::string primary = StartPrimary();
  const std::string site = StartSite(primary);
  ASSERT_FALSE(site.empty());
  const std::string url = site + "/blobs/sha256/" + Sha256Hex(big);
  std::string script;
  for (int i = 0; i < 16; ++i) {
    absl::StrAppend(&script, "curl -sS --max-time 60 -o ", tmp_.File("got" + std::to_string(i)), " ", url, " & ");
  }
  script += "wait";
  ASSERT_EQ(RunCommand({"/bin/sh", "-c", script}).exit_code, 0);
  for (int i = 0; i < 16; ++i) {
    auto got = ReadFile(tmp_.File("got" + std::to_string(i)), 64 << 20);
    ASSERT_TRUE(got.ok()) << i;
    EXPECT_EQ(Sha256Hex(*got), Sha256Hex(big)) << "fetch " << i;
  }
  const std::string site_metrics = Get(site + "/metrics");
  EXPECT_EQ(Metric(site_metrics, "midwife_upstream_fetches_total{result=\"ok\"}"), 1) << site_metrics;
  EXPECT_EQ(Metric(site_metrics, "midwife_http_requests_total{route=\"blob\",code=\"200\"}"), 16);
  // The other fifteen waited for that fetch, or came after it: cache hits.
  EXPECT_EQ(Metric(site_metrics, "midwife_site_cache_waits_total") +
                Metric(site_metrics, "midwife_site_cache_hits_total"),
            15);
  const std::string primary_metrics = Get(primary + "/metrics");
  EXPECT_EQ(Metric(primary_metrics, "midwife_http_requests_total{route=\"blob\",code=\"200\"}"), 1)
      << primary_metrics;
}

TEST_F(SiteCacheTest, HostsAskingDuringASlowFetchWaitForItInsteadOfFetchingAgain) {
  const std::string content = Bytes(1 << 20, 9);
  FakeUpstream upstream(content);
  upstream.set_mode(FakeUpstream::Mode::kSlow);
  const std::string site = StartSite(upstream.url());
  ASSERT_FALSE(site.empty());
  const std::string url = site + "/blobs/sha256/" + Sha256Hex(content);
  std::string script;
  for (int i = 0; i < 16; ++i) {
    absl::StrAppend(&script, "curl -sS --max-time 60 -o ", tmp_.File("got" + std::to_string(i)), " ", url, " & ");
  }
  script += "wait";
  ASSERT_EQ(RunCommand({"/bin/sh", "-c", script}).exit_code, 0);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(Sha256Hex(*ReadFile(tmp_.File("got" + std::to_string(i)))), Sha256Hex(content)) << i;
  }
  EXPECT_EQ(upstream.requests(), 1);
  const std::string metrics = Get(site + "/metrics");
  // All sixteen arrive within the fetch's second: the fifteen others waited.
  EXPECT_EQ(Metric(metrics, "midwife_site_cache_waits_total"), 15) << metrics;
  EXPECT_EQ(Metric(metrics, "midwife_upstream_fetches_total{result=\"ok\"}"), 1);
}

TEST_F(SiteCacheTest, WrongBytesOrABrokenUpstreamAreRefusedAndNothingIsKept) {
  const std::string content = Bytes(300000, 5);
  FakeUpstream upstream(content);
  const std::string site = StartSite(upstream.url());
  ASSERT_FALSE(site.empty());
  const std::string url = site + "/blobs/sha256/" + Sha256Hex(content);

  upstream.set_mode(FakeUpstream::Mode::kWrong);
  auto refused = Curl({"-w", "\n%{http_code}", url});
  EXPECT_THAT(refused.out, HasSubstr("whose digest is"));
  EXPECT_THAT(refused.out, ::testing::EndsWith("\n502"));
  EXPECT_THAT(SiteCacheFiles(), ::testing::IsEmpty());

  upstream.set_mode(FakeUpstream::Mode::kServerError);
  auto failed = Curl({"-w", "\n%{http_code}", url});
  EXPECT_THAT(failed.out, HasSubstr("HTTP 500: disk on fire"));
  EXPECT_THAT(failed.out, ::testing::EndsWith("\n503"));
  upstream.set_mode(FakeUpstream::Mode::kHangUp);
  EXPECT_EQ(StatusOf(url), "503");
  EXPECT_THAT(SiteCacheFiles(), ::testing::IsEmpty());

  // The host's retry, once the upstream is well again, is served and kept.
  upstream.set_mode(FakeUpstream::Mode::kRight);
  EXPECT_EQ(Sha256Hex(Get(url)), Sha256Hex(content));
  EXPECT_THAT(SiteCacheFiles(), ::testing::ElementsAre(Sha256Hex(content)));
  const int requests = upstream.requests();
  EXPECT_EQ(Sha256Hex(Get(url)), Sha256Hex(content));
  EXPECT_EQ(upstream.requests(), requests);
  const std::string metrics = Get(site + "/metrics");
  EXPECT_EQ(Metric(metrics, "midwife_upstream_fetches_total{result=\"failed\"}"), 3) << metrics;
  EXPECT_EQ(Metric(metrics, "midwife_upstream_fetches_total{result=\"ok\"}"), 1);
}

TEST_F(SiteCacheTest, UpstreamThatIsDownGetsA503AndTheSiteKeepsServing) {
  // A port nothing listens on: bound, then closed.
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local);
  socklen_t len = sizeof local;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&local), &len);
  ::close(s);
  const std::string site = StartSite(absl::StrCat("http://127.0.0.1:", ntohs(local.sin_port)));
  ASSERT_FALSE(site.empty());
  auto down = Curl({"-w", "\n%{http_code}", site + "/blobs/sha256/" + Sha256Hex("x")});
  EXPECT_THAT(down.out, HasSubstr("connect"));
  EXPECT_THAT(down.out, ::testing::EndsWith("\n503"));
  EXPECT_EQ(Get(site + "/healthz"), "ok\n");
}

TEST_F(SiteCacheTest, CacheBoundEvictsTheLeastRecentlyServedBlob) {
  const std::string a = Bytes(3 << 20, 21), b = Bytes(3 << 20, 22), c = Bytes(3 << 20, 23);
  MakeImage("1", a);
  MakeImage("2", b);
  MakeImage("3", c);
  const std::string primary = StartPrimary();
  const std::string site = StartSite(primary, {"--cache-bytes", std::to_string(7 << 20)});
  ASSERT_FALSE(site.empty());
  auto blob = [&](const std::string& bytes) { return site + "/blobs/sha256/" + Sha256Hex(bytes); };
  EXPECT_EQ(Sha256Hex(Get(blob(a))), Sha256Hex(a));
  EXPECT_EQ(Sha256Hex(Get(blob(b))), Sha256Hex(b));
  EXPECT_EQ(Sha256Hex(Get(blob(a))), Sha256Hex(a));  // a served after b
  EXPECT_EQ(Sha256Hex(Get(blob(c))), Sha256Hex(c));  // 9 MiB > 7 MiB: b goes
  std::vector<std::string> expected = {Sha256Hex(a), Sha256Hex(c)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(SiteCacheFiles(), expected);
  std::string metrics = Get(site + "/metrics");
  EXPECT_EQ(Metric(metrics, "midwife_site_cache_evictions_total"), 1) << metrics;
  EXPECT_EQ(Metric(metrics, "midwife_site_cache_bytes"), 6 << 20);
  // An evicted blob is pulled again when asked for.
  EXPECT_EQ(Sha256Hex(Get(blob(b))), Sha256Hex(b));
  metrics = Get(site + "/metrics");
  EXPECT_EQ(Metric(metrics, "midwife_upstream_fetches_total{result=\"ok\"}"), 4);
  EXPECT_EQ(Metric(metrics, "midwife_site_cache_evictions_total"), 2);
}

TEST_F(SiteCacheTest, BlobsOfTheImageBootingNowAndLocalImportsAreNotEvicted) {
  const std::string a = Bytes(3 << 20, 31), b = Bytes(3 << 20, 32), c = Bytes(3 << 20, 33),
                    d = Bytes(3 << 20, 34);
  MakeImage("1", a);
  MakeImage("2", b);
  MakeImage("3", c);
  MakeImage("4", d);
  const std::string primary = StartPrimary();
  // The site has esxi@3 imported locally.
  auto imported = RunCommand({BinaryPath("imagebuilder"), "import", tmp_.File("media3"), "--name", "esxi",
                              "--version", "3", "--repo", tmp_.File("site-repo")});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  const std::string site = StartSite(primary, {"--cache-bytes", std::to_string(5 << 20)});
  ASSERT_FALSE(site.empty());
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  const std::string script = Get(absl::StrCat(site, "/boot/", kMacDashed, "/boot.ipxe?platform=pcbios"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("/images/[0-9a-f]{64}"))) << script;
  EXPECT_EQ(Sha256Hex(Get(site + m[0].str() + "/s.v00")), Sha256Hex(a));
  // Other images' blobs push the cache past its bound. The booting image's
  // module is the least recently served, but pinned for the boot window: b
  // goes when d comes.
  EXPECT_EQ(Sha256Hex(Get(site + "/blobs/sha256/" + Sha256Hex(b))), Sha256Hex(b));
  EXPECT_EQ(Sha256Hex(Get(site + "/blobs/sha256/" + Sha256Hex(d))), Sha256Hex(d));
  const std::vector<std::string> files = SiteCacheFiles();
  EXPECT_THAT(files, ::testing::Contains(Sha256Hex(a)));
  EXPECT_THAT(files, ::testing::Contains(Sha256Hex(d)));
  EXPECT_THAT(files, ::testing::Not(::testing::Contains(Sha256Hex(b))));
  // The local import is served from the repository, never from the cache.
  EXPECT_EQ(Sha256Hex(Get(site + "/blobs/sha256/" + Sha256Hex(c))), Sha256Hex(c));
  EXPECT_THAT(SiteCacheFiles(), ::testing::Not(::testing::Contains(Sha256Hex(c))));
  EXPECT_TRUE(std::filesystem::exists(tmp_.File("site-repo/blobs/sha256/" + Sha256Hex(c))));
  // The local image resolves without the upstream.
  EXPECT_EQ(StatusOf(site + "/images/esxi@3/manifest"), "200");
  EXPECT_EQ(Metric(Get(site + "/metrics"), "midwife_upstream_fetches_total{result=\"failed\"}"), 0);
}

}  // namespace
}  // namespace midwife::bootserver
