#ifndef MIDWIFE_TESTS_E2E_E2E_HARNESS_H_
#define MIDWIFE_TESTS_E2E_E2E_HARNESS_H_

// End-to-end harness: the real midwife daemons and CLIs (build/bin), and QEMU
// guests booted by QEMU's own iPXE firmware. Every process is a
// midwife::testing::ChildProcess (killed with the test, PDEATHSIG), every
// wait is bounded, and a failing test prints the tail of every serial
// console and server log it made (PrintLogsIfFailed).
//
// The guest is the stand-in diskless host of scripts/build-linux-guest.sh:
// Debian's kernel, busybox and the host agent; /init
// (scripts/linux-guest-init.sh) prints "midwife-guest: ..." lines on the
// serial console and powers off.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"

namespace midwife::e2e {

// One guest boot under TCG takes about 20 s on a free core; two at once on
// two shared cores, or OVMF, take longer. A boot past this is a failure.
inline constexpr std::chrono::seconds kBootTimeout{240};
// Servers write their ready file within this.
inline constexpr std::chrono::seconds kServerStartTimeout{30};
// Any CLI call (imagebuilder, bootserver, statestore, tar) and the guest build.
inline constexpr int kCommandSeconds = 120;
// Lines of each log printed when a test fails.
inline constexpr size_t kLogTailLines = 40;

std::string SourceDir();
std::string ReadFileOrEmpty(const std::string& path);
std::string Tail(const std::string& text, size_t lines);

// `argv` under timeout(1), so no call outlives `seconds`.
midwife::testing::CommandResult RunBounded(std::vector<std::string> argv,
                                           int seconds = kCommandSeconds);

// Builds the guest's kernel, initramfs and linux.cfg into `dir`
// (scripts/build-linux-guest.sh, kernel cached beside the binaries in
// build/guest-cache). Empty on success, else why not.
std::string BuildGuest(const std::string& dir);

// The value line /init printed: "midwife-guest: value new|kept <hex>".
// `how` is "new" or "kept"; nullopt when there is no such line.
std::optional<std::string> GuestValue(const std::string& serial, const std::string& how);

// The state store and boot server as real processes over a data folder.
class Midwife {
 public:
  explicit Midwife(std::string dir);
  Midwife(const Midwife&) = delete;
  Midwife& operator=(const Midwife&) = delete;

  // Starts `statestore serve` on 127.0.0.1:0 and `bootserver serve` with HTTP
  // on `http` (port 0: the kernel picks) advertised as `advertise` (QEMU's
  // user network reaches the host's loopback as 10.0.2.2). `launcher` prefixes
  // the argv of both servers and of every CLI call that talks to them
  // (nsenter into a namespace); `extra` is appended to the boot server's.
  ::testing::AssertionResult Start(const std::string& advertise = "10.0.2.2",
                                   const std::string& http = "127.0.0.1:0",
                                   std::vector<std::string> extra = {"--tftp", ""},
                                   std::vector<std::string> launcher = {});

  ::testing::AssertionResult Import(const std::string& guest_dir, const std::string& name,
                                    const std::string& version);
  ::testing::AssertionResult Compose(const std::string& from, const std::string& name,
                                     const std::string& version,
                                     const std::string& append_kernelopt);
  ::testing::AssertionResult Assign(const std::string& mac, const std::string& image);

  // `bootserver host --json`; null on failure (the reason goes to the test log).
  nlohmann::json Host(const std::string& mac);
  // The host's events of `kind` ("FAILED", "CONFIRMED"...), oldest first.
  std::vector<nlohmann::json> Events(const std::string& mac, const std::string& kind);
  // How many backups `statestore versions` lists; -1 on failure.
  int VersionCount(const std::string& mac);
  // `statestore restore` of the newest backup, unpacked; the file at `path`
  // ("etc/midwife/value") or nullopt when the backup or the file is missing.
  std::optional<std::string> RestoredFile(const std::string& mac, const std::string& path);

  // What QEMU's user network hands the firmware as its boot file.
  std::string BootScriptUrl(const std::string& mac) const;
  const std::string& store_address() const { return store_address_; }
  int http_port() const { return http_port_; }
  std::string Logs() const;

 private:
  std::vector<std::string> StoreClientFlags(const std::string& flag) const;
  midwife::testing::CommandResult RunClient(std::vector<std::string> argv) const;

  std::string dir_;
  std::string store_address_;
  std::string advertise_;
  std::vector<std::string> launcher_;
  int http_port_ = 0;
  int restores_ = 0;
  std::unique_ptr<midwife::testing::ChildProcess> store_;
  std::unique_ptr<midwife::testing::ChildProcess> boot_;
};

// One QEMU guest, no disk, its serial console to a file.
class QemuGuest {
 public:
  // `network` are QEMU's network arguments (-netdev ... -device ...,mac=...);
  // `firmware` selects it (default SeaBIOS, booting from the network);
  // `launcher` prefixes the argv (nsenter into a namespace).
  QemuGuest(std::string name, std::string dir, std::vector<std::string> network,
            std::vector<std::string> firmware = {"-boot", "n"},
            std::vector<std::string> launcher = {});
  QemuGuest(const QemuGuest&) = delete;
  QemuGuest& operator=(const QemuGuest&) = delete;

  // QEMU user networking booting `boot_url` over HTTP on a virtio NIC (QEMU's
  // iPXE ROM for it; the guest loads virtio_net, which links up at once where
  // e1000 takes 2 s). The BIOS PXE test uses e1000.
  static std::vector<std::string> UserNetwork(const std::string& mac, const std::string& boot_url);

  void Start();
  // True when the guest powered itself off (QEMU exit 0) within `timeout`;
  // else QEMU is killed and the reason is kept for failure().
  bool WaitForPowerOff(std::chrono::seconds timeout = kBootTimeout);
  std::string Serial() const;
  std::string Describe() const;  // name, seconds, the serial tail, QEMU's log tail
  double seconds() const { return seconds_; }
  const std::string& failure() const { return failure_; }

 private:
  std::string name_;
  std::string dir_;
  std::vector<std::string> argv_;
  std::unique_ptr<midwife::testing::ChildProcess> qemu_;
  std::chrono::steady_clock::time_point started_;
  double seconds_ = 0;
  std::string failure_;
  int boots_ = 0;
};

// Prints, when the running test has failed, the tail of each guest's serial
// console and QEMU log and of the servers' logs.
void PrintLogsIfFailed(const Midwife* midwife, const std::vector<const QemuGuest*>& guests);

}  // namespace midwife::e2e

#endif  // MIDWIFE_TESTS_E2E_E2E_HARNESS_H_
