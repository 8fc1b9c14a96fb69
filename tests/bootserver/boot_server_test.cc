// Integration: a real state store and a real boot server on loopback, driven
// by peers nobody here wrote (curl, tftp-hpa, atftp) and the project's CLIs.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bootserver/dhcp/dhcp_codec.h"
#include "core/file_io.h"
#include "tests/bootserver/dhcp/golden_packets.h"
#include "tests/bootserver/test_bytes.h"
#include "core/sha256.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kMac[] = "00:50:56:aa:bb:01";
constexpr char kMacDashed[] = "00-50-56-aa-bb-01";

std::string Bytes(size_t n, uint32_t seed) { return ::midwife::bootserver::testing::SeededBytes(n, seed); }

class BootServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test's DHCP client socket: "broadcast" replies come here.
    dhcp_client_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(dhcp_client_, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    socklen_t len = sizeof local;
    ::getsockname(dhcp_client_, reinterpret_cast<sockaddr*>(&local), &len);
    const std::string client_port = std::to_string(ntohs(local.sin_port));
    timeval timeout{5, 0};
    ::setsockopt(dhcp_client_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    store_ = std::make_unique<statestore::testing::StateStoreServer>(tmp_.File("data"));
    ASSERT_TRUE(store_->Start()) << store_->log();
    MakeImage("1", Bytes(3 << 20, 1));
    MakeImage("2", Bytes(3 << 20, 2));
    const std::string ready = tmp_.File("boot.ready");
    boot_ = std::make_unique<midwife::testing::ChildProcess>(
        std::vector<std::string>{BinaryPath("bootserver"), "serve", "--repo", tmp_.File("repo"),
                                 "--statestore", store_->address(), "--statestore-token-file",
                                 tmp_.File("data/admin.token"), "--http", "127.0.0.1:0", "--tftp",
                                 "127.0.0.1:0", "--advertise", "127.0.0.1", "--ready-file", ready,
                                 "--birth-hook", "echo \"$MIDWIFE_MAC $MIDWIFE_IMAGE\" > " + tmp_.File("hook.out") + "; exit 3",
                                 "--proxydhcp", "127.0.0.1:0:0", "--dhcp-broadcast-address",
                                 "127.0.0.1", "--dhcp-client-port", client_port},
        tmp_.File("boot.log"));
    std::string line = midwife::testing::WaitForFile(ready, std::chrono::seconds(20), boot_.get());
    ASSERT_FALSE(line.empty()) << boot_->Log();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex("http=([0-9.:]+) tftp=([0-9]+) dhcp=([0-9]+)"))) << line;
    http_ = "http://" + m[1].str();
    tftp_port_ = m[2].str();
    dhcp_port_ = static_cast<uint16_t>(std::stoi(m[3].str()));
  }
  void TearDown() override {
    if (dhcp_client_ >= 0) ::close(dhcp_client_);
  }

  // Sends `request` to the ProxyDHCP port and returns the parsed answer.
  absl::StatusOr<dhcp::DhcpPacket> Exchange(const std::vector<uint8_t>& request) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(dhcp_port_);
    ::sendto(dhcp_client_, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    uint8_t buffer[1500];
    ssize_t n = ::recv(dhcp_client_, buffer, sizeof buffer, 0);
    if (n <= 0) return absl::DeadlineExceededError("no ProxyDHCP answer");
    return dhcp::Parse(std::span<const uint8_t>(buffer, static_cast<size_t>(n)));
  }

  // An ESXi-shaped image: boot.cfg, a kernel, two modules and mboot.efi (the
  // UEFI loader boot.cfg does not name).
  void MakeImage(const std::string& version, const std::string& big_module) {
    const std::string dir = tmp_.File("media" + version);
    ASSERT_TRUE(RunCommand({"/bin/mkdir", "-p", dir}).exit_code == 0);
    ASSERT_TRUE(WriteFileAtomically(dir + "/boot.cfg",
                                    "bootstate=0\ntitle=Test ESXi " + version +
                                        "\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- /s.v00\nbuild=8.0." +
                                        version + "\n").ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/b.b00", "kernel " + version).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/jumpstrt.gz", "jump").ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/s.v00", big_module).ok());
    ASSERT_TRUE(WriteFileAtomically(dir + "/mboot.efi", MbootEfi(version)).ok());
    auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", "esxi", "--version",
                         version, "--repo", tmp_.File("repo")});
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  static std::string MbootEfi(const std::string& version) { return "MZ mboot " + version; }

  midwife::testing::CommandResult Admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("bootserver")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--statestore", store_->address(), "--statestore-token-file",
                             tmp_.File("data/admin.token")});
    return RunCommand(argv);
  }

  // curl's body (stdout) and, with -w, its status line.
  midwife::testing::CommandResult Curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  std::string Get(const std::string& path) { return Curl({http_ + path}).out; }
  std::string Status(std::vector<std::string> args) {
    args.insert(args.begin(), {"-o", "/dev/null", "-w", "%{http_code}"});
    return Curl(args).out;
  }
  std::string HostToken() {
    auto r = RunCommand({BinaryPath("statestore"), "token", "--mac", kMac, "--server", store_->address(),
                         "--token", store_->admin_token()});
    std::string t = r.out;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }
  std::string Script() {
    return Get(absl::StrCat("/boot/", kMacDashed, "/boot.ipxe?platform=pcbios&manufacturer=VMware"));
  }

  TempDir tmp_;
  std::unique_ptr<statestore::testing::StateStoreServer> store_;
  std::unique_ptr<midwife::testing::ChildProcess> boot_;
  std::string http_;
  std::string tftp_port_;
  uint16_t dhcp_port_ = 0;
  int dhcp_client_ = -1;
};

TEST_F(BootServerTest, ProxyDhcpOffersBootFilesByArchitectureAndScriptToIpxe) {
  auto bios = Exchange(testing::FromHex(testing::kBiosPxeDiscover));
  ASSERT_TRUE(bios.ok()) << bios.status();
  EXPECT_EQ(bios->OptionText(67), "undionly.kpxe");
  EXPECT_TRUE(dhcp::IsZero(bios->yiaddr));  // never hands out an address
  auto uefi = Exchange(testing::FromHex(testing::kUefiX64PxeDiscover));
  ASSERT_TRUE(uefi.ok()) << uefi.status();
  EXPECT_EQ(uefi->OptionText(67), "ipxe.efi");
  auto ipxe = Exchange(testing::FromHex(testing::kIpxeDiscover));
  ASSERT_TRUE(ipxe.ok()) << ipxe.status();
  EXPECT_THAT(ipxe->OptionText(67), ::testing::MatchesRegex("http://127.0.0.1:[0-9]+/boot/.*/boot.ipxe"));
  // Garbage is dropped, and the server keeps answering.
  Exchange({0x01, 0x02, 0x03}).IgnoreError();
  EXPECT_TRUE(Exchange(testing::FromHex(testing::kBiosPxeDiscover)).ok());
  const std::string metrics = Get("/metrics");
  EXPECT_THAT(metrics, HasSubstr("midwife_proxydhcp_packets_total{result=\"answered\"} 4"));
  EXPECT_THAT(metrics, HasSubstr("midwife_proxydhcp_packets_total{result=\"malformed\"} 1"));
}

TEST_F(BootServerTest, UnknownHostIsDiscoveredAndToldToRetry) {
  std::string first = Get(absl::StrCat("/boot/", kMacDashed, "/boot.ipxe"));
  EXPECT_THAT(first, HasSubstr("chain http://127.0.0.1"));
  EXPECT_THAT(first, HasSubstr("platform=${platform}"));
  std::string script = Script();
  EXPECT_THAT(script, HasSubstr("#!ipxe"));
  EXPECT_THAT(script, HasSubstr("retrying in"));
  auto hosts = Admin({"hosts"});
  EXPECT_EQ(hosts.exit_code, 0) << hosts.out;
  EXPECT_THAT(hosts.out, HasSubstr(kMac));
  EXPECT_THAT(hosts.out, HasSubstr("discovered"));
}

TEST_F(BootServerTest, AssignedHostBootsItsImageAndModulesComeByteExact) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  std::string script = Script();
  EXPECT_THAT(script, HasSubstr("kernel http://127.0.0.1"));
  EXPECT_THAT(script, HasSubstr("MIDWIFE_MAC=00:50:56:aa:bb:01"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("(/images/[0-9a-f]{64})/s.v00"))) << script;
  const std::string module = m[1].str() + "/s.v00";
  auto body = Curl({http_ + module});
  EXPECT_EQ(Sha256Hex(body.out), Sha256Hex(Bytes(3 << 20, 1)));

  // Range and conditional GET, as caches and resuming clients use them.
  EXPECT_EQ(Curl({"-r", "100-199", http_ + module}).out, Bytes(3 << 20, 1).substr(100, 100));
  EXPECT_EQ(Status({"-r", "99999999-", http_ + module}), "416");
  auto headers = Curl({"-I", http_ + module}).out;
  std::smatch etag;
  ASSERT_TRUE(std::regex_search(headers, etag, std::regex("ETag: (\"[^\"]+\")"))) << headers;
  EXPECT_EQ(Status({"-H", "If-None-Match: " + etag[1].str(), http_ + module}), "304");
  EXPECT_THAT(headers, HasSubstr("immutable"));

  std::string cfg = Get(absl::StrCat("/boot/", kMacDashed, "/boot.cfg"));
  EXPECT_THAT(cfg, ::testing::StartsWith("bootstate=2\n"));  // on trial: ATTEMPTED
  EXPECT_THAT(cfg, HasSubstr("prefix=http://127.0.0.1"));
  // Each boot phase is timed from the one before it.
  const std::string metrics = Get("/metrics");
  EXPECT_THAT(metrics, HasSubstr("midwife_boot_phase_seconds_count{phase=\"modules\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("midwife_boot_phase_seconds_count{phase=\"bootcfg\"} 1"));
}

TEST_F(BootServerTest, UefiHostChainsTheImagesMbootWithItsBootCfg) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  const std::string script = Get(absl::StrCat("/boot/", kMacDashed, "/boot.ipxe?platform=efi"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      script, m,
      std::regex("chain (http://127.0.0.1:[0-9]+/images/[0-9a-f]{64}/mboot.efi) -c "
                 "http://127.0.0.1:[0-9]+/boot/00-50-56-aa-bb-01/boot.cfg\n")))
      << script;
  EXPECT_EQ(Curl({m[1].str()}).out, MbootEfi("1"));
}

TEST_F(BootServerTest, TrialWithoutBirthReportFallsBackAndReportMakesItActive) {
  const std::string token = HostToken();
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  Script();
  std::string report = absl::StrCat(http_, "/hosts/", kMacDashed, "/report");
  EXPECT_EQ(Status({"-X", "POST", "-d", "status=ok&image=esxi@1", "-H", "Authorization: Bearer " + token, report}), "200");
  EXPECT_EQ(Status({"-X", "POST", "-d", "status=ok", "-H", "Authorization: Bearer wrong", report}), "403");
  auto host = Admin({"host", "--mac", kMac});
  EXPECT_THAT(host.out, HasSubstr("active:     esxi@1 (valid)"));

  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@2"}).exit_code, 0);
  EXPECT_THAT(Script(), HasSubstr("esxi@2"));  // the trial boot
  EXPECT_THAT(Script(), HasSubstr("esxi@1"));  // no report came: the previous bank
  auto events = Admin({"events", "--mac", kMac});
  EXPECT_THAT(events.out, HasSubstr("FAILED"));
  EXPECT_THAT(events.out, HasSubstr("esxi@2"));
}

TEST_F(BootServerTest, UploadedStateComesBackOnTheNextBoot) {
  const std::string token = HostToken();
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  const std::string state = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "value 42\n"}});
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("state.tgz"), state).ok());
  std::string upload = absl::StrCat(http_, "/hosts/", kMacDashed, "/state");
  EXPECT_EQ(Status({"-X", "POST", "--data-binary", "@" + tmp_.File("state.tgz"), "-H",
                    "Authorization: Bearer " + token, upload}), "200");
  EXPECT_EQ(Status({"-X", "POST", "--data-binary", "garbage", "-H", "Authorization: Bearer " + token, upload}), "400");
  EXPECT_THAT(Script(), HasSubstr("/boot/00-50-56-aa-bb-01/state.tgz"));
  EXPECT_EQ(Get(absl::StrCat("/boot/", kMacDashed, "/state.tgz")), state);
}

TEST_F(BootServerTest, ABootCostsOneStoreRoundTrip) {
  auto store_calls = [&] {
    std::smatch m;
    const std::string metrics = Get("/metrics");
    return std::regex_search(metrics, m, std::regex("midwife_store_calls_total ([0-9]+)"))
               ? std::stol(m[1].str()) : -1L;
  };
  auto boot = [&] {
    EXPECT_THAT(Script(), HasSubstr("/state.tgz"));
    EXPECT_THAT(Get(absl::StrCat("/boot/", kMacDashed, "/boot.cfg")), HasSubstr("state.tgz"));
    return Get(absl::StrCat("/boot/", kMacDashed, "/state.tgz"));
  };
  const std::string token = HostToken();
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  const std::string first = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "first\n"}});
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("first.tgz"), first).ok());
  const std::string upload = absl::StrCat(http_, "/hosts/", kMacDashed, "/state");
  ASSERT_EQ(Status({"-X", "POST", "--data-binary", "@" + tmp_.File("first.tgz"), "-H",
                    "Authorization: Bearer " + token, upload}), "200");

  // First boot with this state: its bytes come with BeginBoot's answer.
  long before = store_calls();
  EXPECT_EQ(boot(), first);
  EXPECT_EQ(store_calls() - before, 1);
  // Every later boot: BeginBoot alone, and the state is not sent again.
  before = store_calls();
  EXPECT_EQ(boot(), first);
  EXPECT_EQ(store_calls() - before, 1);

  // A state uploaded during the boot is what a later fetch in it gets.
  const std::string second = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "second\n"}});
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("second.tgz"), second).ok());
  ASSERT_EQ(Status({"-X", "POST", "--data-binary", "@" + tmp_.File("second.tgz"), "-H",
                    "Authorization: Bearer " + token, upload}), "200");
  EXPECT_EQ(Get(absl::StrCat("/boot/", kMacDashed, "/state.tgz")), second);
}

TEST_F(BootServerTest, TftpServesBootCfgAndBlobsToTftpHpaAndAtftp) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  std::string script = Script();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("/images/([0-9a-f]{64})/"))) << script;
  // tftp-hpa, blksize 1468
  auto hpa = RunCommand({"/usr/bin/tftp", "-m", "binary", "127.0.0.1", tftp_port_, "-c", "get",
                         std::string("01-") + kMacDashed + "/boot.cfg", tmp_.File("boot.cfg")});
  ASSERT_EQ(hpa.exit_code, 0) << hpa.out;
  EXPECT_THAT(*ReadFile(tmp_.File("boot.cfg")), HasSubstr("prefix=http://127.0.0.1"));
  // atftp with windowsize 16 for a 3 MiB blob (blob digest of s.v00).
  const std::string blob = "blobs/sha256/" + Sha256Hex(Bytes(3 << 20, 1));
  auto at = RunCommand({"/usr/bin/atftp", "--option", "blksize 1468", "--option", "windowsize 16",
                        "-g", "-r", blob, "-l", tmp_.File("blob"), "127.0.0.1", tftp_port_});
  ASSERT_EQ(at.exit_code, 0) << at.out;
  EXPECT_EQ(Sha256Hex(*ReadFile(tmp_.File("blob"))), Sha256Hex(Bytes(3 << 20, 1)));
  EXPECT_THAT(Get("/metrics"), HasSubstr("midwife_tftp_transfers_total{result=\"done\"} 2"));
  // Malformed requests (truncated, unknown opcode, options past the end) get
  // an error or nothing; the server goes on serving.
  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(tftp_port_)));
  const std::vector<std::string> garbage = {std::string("\x00\x01", 2), std::string("\x00\x09" "abc\x00", 6),
                                            std::string("\x00\x01" "f\x00octet\x00" "blksize", 17),
                                            std::string(3000, '\xff')};
  for (const auto& g : garbage) {
    ::sendto(udp, g.data(), g.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  ::close(udp);
  auto again = RunCommand({"/usr/bin/tftp", "-m", "binary", "127.0.0.1", tftp_port_, "-c", "get",
                           std::string("01-") + kMacDashed + "/boot.cfg", tmp_.File("boot2.cfg")});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(*ReadFile(tmp_.File("boot2.cfg")), *ReadFile(tmp_.File("boot.cfg")));
  // Escapes are refused with an error, not served.
  auto escape = RunCommand({"/usr/bin/tftp", "127.0.0.1", tftp_port_, "-c", "get", "../../etc/passwd",
                            tmp_.File("passwd")});
  EXPECT_THAT(escape.out, HasSubstr("Error code 2"));
}

// A module altered on disk after import is refused over HTTP and TFTP, never
// served; the blobs still intact go on being served.
TEST_F(BootServerTest, ModuleCorruptedOnDiskIsRefusedNotServed) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  std::smatch m;
  const std::string script = Script();
  ASSERT_TRUE(std::regex_search(script, m, std::regex("(/images/[0-9a-f]{64})/s.v00"))) << script;
  const std::string module = m[1].str() + "/s.v00";
  const std::string hex = Sha256Hex(Bytes(3 << 20, 1));
  // Served (and so verified) once, intact.
  EXPECT_EQ(Sha256Hex(Curl({http_ + module}).out), hex);

  // One byte flipped in place, as a failing disk or a stray write would.
  const std::string blob_path = tmp_.File("repo/blobs/sha256/" + hex);
  std::string bytes = *ReadFile(blob_path);
  bytes[12345] ^= 0x20;
  {
    FILE* f = std::fopen(blob_path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 12345, SEEK_SET);
    std::fputc(bytes[12345], f);
    std::fclose(f);
  }
  auto refused = Curl({"-w", "\n%{http_code}", http_ + module});
  EXPECT_THAT(refused.out, HasSubstr("corrupt on disk"));
  EXPECT_THAT(refused.out, ::testing::EndsWith("\n502"));
  EXPECT_EQ(Status({http_ + "/blobs/sha256/" + hex}), "502");
  auto tftp = RunCommand({"/usr/bin/tftp", "-m", "binary", "127.0.0.1", tftp_port_, "-c", "get",
                          "blobs/sha256/" + hex, tmp_.File("corrupt")});
  EXPECT_THAT(tftp.out, HasSubstr("Error code"));
  EXPECT_NE(Sha256Hex(ReadFile(tmp_.File("corrupt")).value_or("")), Sha256Hex(bytes));
  // The other modules are intact and still served.
  EXPECT_EQ(Curl({http_ + m[1].str() + "/jumpstrt.gz"}).out, "jump");
  EXPECT_THAT(Get("/metrics"), HasSubstr("midwife_blob_corrupt_total 3"));
}

TEST_F(BootServerTest, HostAgentUnderBusyboxReportsBirthAndUploadsItsEtc) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  Script();  // the trial boot: ATTEMPTED until the agent reports
  // busybox's own applets stand in for a diskless host's userland.
  const std::string bin = tmp_.File("bin");
  ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", bin, tmp_.File("host/etc")}).exit_code, 0);
  for (const char* applet : {"wget", "sha256sum", "tar", "cut", "tr", "cat", "sleep", "mkdir", "rm", "basename", "gzip", "base64"}) {
    ASSERT_EQ(RunCommand({"/bin/ln", "-s", "/bin/busybox", bin + "/" + applet}).exit_code, 0);
  }
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("host/etc/motd"), "value 4242\n").ok());
  const std::string port = http_.substr(http_.rfind(':') + 1);
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("cmdline"),
                                  absl::StrCat("console=ttyS0 MIDWIFE_MAC=", kMac, " PBHOST=127.0.0.1:", port,
                                               " MIDWIFE_TOKEN=", HostToken(), "\n")).ok());
  auto agent = RunCommand({"/usr/bin/env", "-i", "PATH=" + bin, "MIDWIFE_CMDLINE=" + tmp_.File("cmdline"),
                           "MIDWIFE_ETC=" + tmp_.File("host/etc"), "TMPDIR=" + tmp_.path(), "MIDWIFE_ATTEMPTS=2", "/bin/busybox", "sh",
                           std::string(MIDWIFE_SOURCE_DIR) + "/bootserver/agent/midwife-agent.sh", "once"});
  ASSERT_EQ(agent.exit_code, 0) << agent.out;
  EXPECT_THAT(Admin({"host", "--mac", kMac}).out, HasSubstr("active:     esxi@1 (valid)"));
  // The next boot carries the uploaded /etc back as the Linux overlay.
  const std::string overlay = Get(absl::StrCat("/boot/", kMacDashed, "/state.cpio.gz"));
  ASSERT_TRUE(WriteFileAtomically(tmp_.File("o.cpio.gz"), overlay).ok());
  auto listing = RunCommand({"/bin/sh", "-c", "gzip -dc " + tmp_.File("o.cpio.gz") + " | cpio -i --to-stdout etc/motd 2>/dev/null"});
  EXPECT_EQ(listing.out, "value 4242\n") << agent.out;
}

TEST_F(BootServerTest, BirthReportRunsTheHookAndRecordsTheBootsTimeline) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  Script();
  Get(absl::StrCat("/boot/", kMacDashed, "/boot.cfg"));
  std::string report = absl::StrCat(http_, "/hosts/", kMacDashed, "/report");
  ASSERT_EQ(Status({"-X", "POST", "-d", "status=ok", "-H", "Authorization: Bearer " + HostToken(), report}), "200");
  EXPECT_EQ(midwife::testing::WaitForFile(tmp_.File("hook.out"), std::chrono::seconds(10)),
            absl::StrCat(kMac, " esxi@1\n"));
  // The hook's exit status lands in the host's history shortly after.
  std::string events;
  for (int i = 0; i < 100 && events.find("HOOK") == std::string::npos; ++i) {
    events = Admin({"events", "--mac", kMac}).out;
    if (events.find("HOOK") == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(events, HasSubstr("birth hook: exit 3"));
  EXPECT_THAT(events, ::testing::ContainsRegex("PHASES.*bootcfg [0-9.]+s, report [0-9.]+s"));
}

TEST_F(BootServerTest, ImageRemovalIsRefusedWhileAHostUsesIt) {
  ASSERT_EQ(Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  auto remove = [&](const std::string& image) {
    return RunCommand({BinaryPath("imagebuilder"), "remove", image, "--repo", tmp_.File("repo"), "--statestore",
                       store_->address(), "--statestore-token-file", tmp_.File("data/admin.token")});
  };
  auto refused = remove("esxi@1");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.out, HasSubstr(kMac));
  EXPECT_EQ(remove("esxi@2").exit_code, 0) << remove("esxi@2").out;
}

TEST_F(BootServerTest, BadRequestsGetFourHundredsWithAReason) {
  EXPECT_EQ(Status({http_ + "/boot/ff-ff-ff-ff-ff-ff/boot.ipxe"}), "400");
  EXPECT_THAT(Get("/boot/not-a-mac/boot.cfg"), HasSubstr("not-a-mac"));
  EXPECT_EQ(Status({http_ + "/nothing/here"}), "404");
  EXPECT_EQ(Status({http_ + "/blobs/sha256/../../etc/passwd"}), "404");
  EXPECT_EQ(Status({http_ + "/blobs/sha256/zz"}), "400");
  EXPECT_EQ(Status({"-H", "X-Big: " + std::string(20000, 'a'), http_ + "/healthz"}), "431");
  EXPECT_EQ(Get("/healthz"), "ok\n");
  EXPECT_THAT(Get("/metrics"), HasSubstr("midwife_http_requests_total"));
}

}  // namespace
}  // namespace midwife::bootserver
