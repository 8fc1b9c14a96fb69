// End to end, the full PXE path (scenario 2): QEMU on a tap in a bridge in a
// network namespace of the test's own (tests/e2e/pxe-network.sh); dnsmasq is
// the site's plain DHCP server (no boot options at all) in a second
// namespace; the boot server's ProxyDHCP tells the firmware what to boot, its
// TFTP serves the iPXE binary, its HTTP the rest.
//
// BIOS: QEMU's NIC option ROM is iPXE itself, so the firmware's PXE request
// already carries user class "iPXE" and ProxyDHCP hands it its script URL (no
// undionly.kpxe chainload: QEMU has no other PXE ROM to show that).
// UEFI: OVMF's own PXE (EDK2, virtio-net with no option ROM) asks as
// PXEClient:Arch:00007; ProxyDHCP names ipxe.efi, EDK2 fetches it over the
// boot server's TFTP, and iPXE then asks again and goes on over HTTP.
//
// Needs root (network namespaces, a bridge, a tap); skipped otherwise.

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace midwife::e2e {
namespace {

using midwife::testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kOvmf[] = "/usr/share/ovmf/OVMF.fd";
constexpr char kSiteAddress[] = "192.168.77.1";  // br0 in the boot namespace (pxe-network.sh)
// A namespace lives as long as its holder; the holder's bound is a backstop
// only: every holder is killed with the test (PDEATHSIG) or by the fixture.
constexpr char kHolderSeconds[] = "1200";

// A process alone in a new network namespace, holding it open.
class NamespaceHolder {
 public:
  explicit NamespaceHolder(const std::string& log)
      : process_({"/usr/bin/unshare", "--net", "--", "/bin/sleep", kHolderSeconds}, log) {}

  // Waits (bounded) until the holder is in its own namespace.
  bool Ready() {
    const std::string own = std::filesystem::read_symlink("/proc/self/ns/net").string();
    const std::string path = "/proc/" + std::to_string(process_.pid()) + "/ns/net";
    for (int i = 0; i < 200; ++i) {
      std::error_code ec;
      std::string ns = std::filesystem::read_symlink(path, ec).string();
      if (!ec && ns != own) return true;
      int status = 0;
      if (process_.Exited(&status)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // argv prefix that runs a command in this namespace.
  std::vector<std::string> Enter() const {
    return {"/usr/bin/nsenter", "--net=/proc/" + std::to_string(process_.pid()) + "/ns/net", "--"};
  }
  pid_t pid() const { return process_.pid(); }
  std::string Log() const { return process_.Log(); }

 private:
  ChildProcess process_;
};

class PxeBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "the full PXE path needs root: network namespaces, bridge, tap";
    site_ = std::make_unique<NamespaceHolder>(tmp_.File("site-ns.log"));
    dhcp_ = std::make_unique<NamespaceHolder>(tmp_.File("dhcp-ns.log"));
    if (!site_->Ready() || !dhcp_->Ready()) {
      GTEST_SKIP() << "cannot make a network namespace here (unshare --net): " << site_->Log()
                   << dhcp_->Log();
    }
    auto net = RunBounded({"/bin/bash", SourceDir() + "/tests/e2e/pxe-network.sh",
                           std::to_string(site_->pid()), std::to_string(dhcp_->pid())});
    ASSERT_EQ(net.exit_code, 0) << "pxe-network.sh: " << net.out;

    // The site's DHCP server: addresses only, no boot options.
    std::vector<std::string> dnsmasq = dhcp_->Enter();
    for (const std::string& a :
         {std::string("/usr/sbin/dnsmasq"), std::string("--keep-in-foreground"),
          std::string("--conf-file=/dev/null"), std::string("--port=0"),
          std::string("--interface=veth1"), std::string("--bind-interfaces"),
          std::string("--dhcp-range=192.168.77.100,192.168.77.150,255.255.255.0,10m"),
          "--dhcp-leasefile=" + tmp_.File("dnsmasq.leases"), std::string("--pid-file="),
          std::string("--log-dhcp"), std::string("--log-facility=-"),
          // Root user and group: a process that changes its ids loses PDEATHSIG.
          std::string("--user=root"), std::string("--group=root")}) {
      dnsmasq.push_back(a);
    }
    dnsmasq_ = std::make_unique<ChildProcess>(dnsmasq, tmp_.File("dnsmasq.log"));

    const std::string guest = tmp_.File("guest");
    ASSERT_EQ(BuildGuest(guest), "");
    midwife_ = std::make_unique<Midwife>(tmp_.path());
    ASSERT_TRUE(midwife_->Start(
        kSiteAddress, std::string(kSiteAddress) + ":0",
        {"--tftp", std::string(kSiteAddress) + ":69", "--proxydhcp", "0.0.0.0"}, site_->Enter()));
    ASSERT_TRUE(midwife_->Import(guest, "guest", "1"));
  }

  void TearDown() override {
    PrintLogsIfFailed(midwife_.get(), {guest_.get()});
    if (HasFailure() && dnsmasq_)
      std::cout << "--- dnsmasq log (tail) ---\n" << Tail(dnsmasq_->Log(), kLogTailLines) << "\n";
  }

  // Boots `mac` on the tap with `firmware` and `nic` ("e1000",
  // "virtio-net-pci,romfile=,bootindex=1").
  ::testing::AssertionResult Boot(const std::string& mac, std::vector<std::string> firmware,
                                  const std::string& nic) {
    guest_ = std::make_unique<QemuGuest>(
        "host", tmp_.path(),
        std::vector<std::string>{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                                 "-device", nic + ",netdev=n0,mac=" + mac},
        std::move(firmware), site_->Enter());
    guest_->Start();
    if (guest_->WaitForPowerOff()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << guest_->failure();
  }

  // What a booted host shows in every variant: its image ran, it got its
  // address from dnsmasq, its agent confirmed the image and uploaded /etc.
  void ExpectHostCameUp(const std::string& mac) {
    const std::string serial = guest_->Serial();
    EXPECT_THAT(serial, HasSubstr("midwife: booting guest@1 on " + mac));
    EXPECT_THAT(serial, HasSubstr("midwife-guest: eth0 192.168.77.1"));  // .100-.150 from dnsmasq
    EXPECT_THAT(serial, HasSubstr("midwife-guest: agent exit 0"));
    EXPECT_THAT(ReadFileOrEmpty(tmp_.File("dnsmasq.leases")), HasSubstr(mac));
    nlohmann::json record = midwife_->Host(mac);
    ASSERT_TRUE(record.is_object());
    EXPECT_EQ(record["active"].value("image", ""), "guest@1") << record.dump(1);
    EXPECT_THAT(record["facts"].value("address", ""), MatchesRegex("192\\.168\\.77\\.1[0-5][0-9]"));
    std::optional<std::string> value = GuestValue(serial, "new");
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(midwife_->RestoredFile(mac, "etc/midwife/value"), value);
  }

  midwife::testing::TempDir tmp_;
  std::unique_ptr<NamespaceHolder> site_;
  std::unique_ptr<NamespaceHolder> dhcp_;
  std::unique_ptr<ChildProcess> dnsmasq_;
  std::unique_ptr<Midwife> midwife_;
  std::unique_ptr<QemuGuest> guest_;
};

TEST_F(PxeBootTest, BiosFirmwareGetsItsScriptUrlFromProxyDhcp) {
  const std::string mac = "52:54:00:77:00:01";
  ASSERT_TRUE(midwife_->Assign(mac, "guest@1"));
  ASSERT_TRUE(Boot(mac, {"-boot", "n"}, "e1000"));
  // The boot file came from ProxyDHCP, never from dnsmasq.
  EXPECT_THAT(guest_->Serial(), HasSubstr("Next server: 192.168.77.1"));
  EXPECT_THAT(guest_->Serial(),
              HasSubstr("Filename: http://192.168.77.1:" + std::to_string(midwife_->http_port()) +
                        "/boot/52-54-00-77-00-01/boot.ipxe"));
  ExpectHostCameUp(mac);
}

TEST_F(PxeBootTest, UefiFirmwareChainloadsIpxeOverTftpThenBootsOverHttp) {
  if (!std::filesystem::exists(kOvmf)) GTEST_SKIP() << kOvmf << " missing (Debian package ovmf)";
  const std::string mac = "52:54:00:77:00:02";
  ASSERT_TRUE(midwife_->Assign(mac, "guest@1"));
  ASSERT_TRUE(Boot(mac, {"-bios", kOvmf}, "virtio-net-pci,romfile=,bootindex=1"));
  const std::string serial = guest_->Serial();
  EXPECT_THAT(serial, HasSubstr("NBP filename is ipxe.efi"));  // EDK2's PXE, from ProxyDHCP
  EXPECT_THAT(serial,
              HasSubstr("NBP file downloaded successfully"));  // over the boot server's TFTP
  EXPECT_THAT(serial, HasSubstr("iPXE"));
  ExpectHostCameUp(mac);
}

}  // namespace
}  // namespace midwife::e2e
