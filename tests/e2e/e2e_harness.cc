#include "tests/e2e/e2e_harness.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace midwife::e2e {
namespace {

using midwife::testing::BinaryPath;
using midwife::testing::ChildProcess;
using midwife::testing::CommandResult;

constexpr char kQemu[] = "/usr/bin/qemu-system-x86_64";

std::string Dashed(const std::string& mac) { return absl::StrReplaceAll(mac, {{":", "-"}}); }

::testing::AssertionResult CommandOk(const CommandResult& r, const std::string& what) {
  if (r.exit_code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " exited " << r.exit_code << ": " << r.out;
}

}  // namespace

std::string SourceDir() { return MIDWIFE_SOURCE_DIR; }

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t lines) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (size_t n = 0; n < lines; ++n) {
    size_t nl = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

CommandResult RunBounded(std::vector<std::string> argv, int seconds) {
  argv.insert(argv.begin(), {"/usr/bin/timeout", "-k", "5", std::to_string(seconds)});
  return midwife::testing::RunCommand(argv);
}

std::string BuildGuest(const std::string& dir) {
  // The kernel cache sits in the build tree, beside bin/.
  const std::string cache =
      std::filesystem::path(BinaryPath("statestore")).parent_path().parent_path().string() +
      "/guest-cache";
  CommandResult r =
      RunBounded({"/bin/bash", SourceDir() + "/scripts/build-linux-guest.sh", dir, cache}, 600);
  if (r.exit_code != 0)
    return absl::StrCat("build-linux-guest.sh exited ", r.exit_code, ": ", r.out);
  return "";
}

std::optional<std::string> GuestValue(const std::string& serial, const std::string& how) {
  const std::string marker = "midwife-guest: value " + how + " ";
  size_t at = serial.find(marker);
  if (at == std::string::npos) return std::nullopt;
  at += marker.size();
  size_t end = at;
  while (end < serial.size() && absl::ascii_isxdigit(static_cast<unsigned char>(serial[end])))
    ++end;
  if (end == at) return std::nullopt;
  return serial.substr(at, end - at);
}

Midwife::Midwife(std::string dir) : dir_(std::move(dir)) {}

std::vector<std::string> Midwife::StoreClientFlags(const std::string& flag) const {
  return {flag, store_address_, flag == "--server" ? "--token-file" : "--statestore-token-file",
          dir_ + "/statestore/admin.token"};
}

CommandResult Midwife::RunClient(std::vector<std::string> argv) const {
  argv.insert(argv.begin(), launcher_.begin(), launcher_.end());
  return RunBounded(std::move(argv));
}

::testing::AssertionResult Midwife::Start(const std::string& advertise, const std::string& http,
                                          std::vector<std::string> extra,
                                          std::vector<std::string> launcher) {
  advertise_ = advertise;
  launcher_ = launcher;
  const std::string store_ready = dir_ + "/statestore.ready";
  std::vector<std::string> store_argv = launcher;
  for (const std::string& a :
       {BinaryPath("statestore"), std::string("serve"), std::string("--data"), dir_ + "/statestore",
        std::string("--listen"), std::string("127.0.0.1:0"), std::string("--ready-file"),
        store_ready}) {
    store_argv.push_back(a);
  }
  store_ = std::make_unique<ChildProcess>(store_argv, dir_ + "/statestore.log");
  store_address_ = std::string(absl::StripAsciiWhitespace(
      midwife::testing::WaitForFile(store_ready, kServerStartTimeout, store_.get())));
  if (store_address_.empty()) {
    return ::testing::AssertionFailure() << "the state store did not start: " << store_->Log();
  }

  const std::string boot_ready = dir_ + "/bootserver.ready";
  std::vector<std::string> boot_argv = launcher;
  for (const std::string& a :
       {BinaryPath("bootserver"), std::string("serve"), std::string("--repo"), dir_ + "/repo",
        std::string("--http"), http, std::string("--advertise"), advertise,
        std::string("--ready-file"), boot_ready}) {
    boot_argv.push_back(a);
  }
  for (const std::string& a : StoreClientFlags("--statestore")) boot_argv.push_back(a);
  for (const std::string& a : extra) boot_argv.push_back(a);
  std::filesystem::create_directories(dir_ + "/repo");
  boot_ = std::make_unique<ChildProcess>(boot_argv, dir_ + "/bootserver.log");
  // "http=<advertised address>:<port> ..." once serving.
  std::string ready = midwife::testing::WaitForFile(boot_ready, kServerStartTimeout, boot_.get());
  size_t http_at = ready.find("http=");
  if (http_at == std::string::npos) {
    return ::testing::AssertionFailure() << "the boot server did not start: " << boot_->Log();
  }
  size_t end = ready.find_first_of(" \n", http_at);
  std::string http_listen =
      ready.substr(http_at + 5, end == std::string::npos ? end : end - http_at - 5);
  http_port_ = std::stoi(http_listen.substr(http_listen.rfind(':') + 1));
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Midwife::Import(const std::string& guest_dir, const std::string& name,
                                           const std::string& version) {
  return CommandOk(RunBounded({BinaryPath("imagebuilder"), "--repo", dir_ + "/repo", "import",
                               guest_dir, "--kind", "linux", "--name", name, "--version", version}),
                   "imagebuilder import");
}

::testing::AssertionResult Midwife::Compose(const std::string& from, const std::string& name,
                                            const std::string& version,
                                            const std::string& append_kernelopt) {
  return CommandOk(
      RunBounded({BinaryPath("imagebuilder"), "--repo", dir_ + "/repo", "compose", "--from", from,
                  "--name", name, "--version", version, "--append-kernelopt", append_kernelopt}),
      "imagebuilder compose");
}

::testing::AssertionResult Midwife::Assign(const std::string& mac, const std::string& image) {
  std::vector<std::string> argv = {
      BinaryPath("bootserver"), "assign", "--mac", mac, "--image", image};
  for (const std::string& a : StoreClientFlags("--statestore")) argv.push_back(a);
  return CommandOk(RunClient(argv), "bootserver assign");
}

nlohmann::json Midwife::Host(const std::string& mac) {
  std::vector<std::string> argv = {BinaryPath("bootserver"), "host", "--mac", mac, "--json"};
  for (const std::string& a : StoreClientFlags("--statestore")) argv.push_back(a);
  CommandResult r = RunClient(argv);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "bootserver host --mac " << mac << ": " << r.out;
    return nullptr;
  }
  nlohmann::json host = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (host.is_discarded()) {
    ADD_FAILURE() << "bootserver host --json printed no JSON: " << r.out;
    return nullptr;
  }
  return host;
}

std::vector<nlohmann::json> Midwife::Events(const std::string& mac, const std::string& kind) {
  std::vector<nlohmann::json> found;
  nlohmann::json host = Host(mac);
  if (!host.is_object() || !host.contains("events")) return found;
  for (const nlohmann::json& e : host["events"]) {
    if (e.value("kind", "") == "HOST_EVENT_KIND_" + kind) found.push_back(e);
  }
  return found;
}

int Midwife::VersionCount(const std::string& mac) {
  std::vector<std::string> argv = {BinaryPath("statestore"), "versions", "--mac", mac, "--json"};
  for (const std::string& a : StoreClientFlags("--server")) argv.push_back(a);
  CommandResult r = RunClient(argv);
  nlohmann::json versions = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (r.exit_code != 0 || !versions.is_array()) {
    ADD_FAILURE() << "statestore versions --mac " << mac << ": " << r.out;
    return -1;
  }
  return static_cast<int>(versions.size());
}

std::optional<std::string> Midwife::RestoredFile(const std::string& mac, const std::string& path) {
  const std::string out = absl::StrCat(dir_, "/restore-", ++restores_);
  std::filesystem::create_directories(out);
  std::vector<std::string> argv = {BinaryPath("statestore"), "restore", "--mac", mac, "--out",
                                   out + "/state.tgz"};
  for (const std::string& a : StoreClientFlags("--server")) argv.push_back(a);
  CommandResult r = RunClient(argv);
  if (r.exit_code != 0) {
    std::cout << "statestore restore --mac " << mac << ": " << r.out;
    return std::nullopt;
  }
  r = RunBounded({"/bin/tar", "-xzf", out + "/state.tgz", "-C", out});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "the restored state of " << mac << " is no gzip'd tar: " << r.out;
    return std::nullopt;
  }
  if (!std::filesystem::exists(out + "/" + path)) return std::nullopt;
  return ReadFileOrEmpty(out + "/" + path);
}

std::string Midwife::BootScriptUrl(const std::string& mac) const {
  return absl::StrCat("http://", advertise_, ":", http_port_, "/boot/", Dashed(mac), "/boot.ipxe");
}

std::string Midwife::Logs() const {
  return absl::StrCat(
      "--- statestore log (tail) ---\n", Tail(store_ ? store_->Log() : "", kLogTailLines),
      "\n--- bootserver log (tail) ---\n", Tail(boot_ ? boot_->Log() : "", kLogTailLines), "\n");
}

QemuGuest::QemuGuest(std::string name, std::string dir, std::vector<std::string> network,
                     std::vector<std::string> firmware, std::vector<std::string> launcher)
    : name_(std::move(name)), dir_(std::move(dir)) {
  argv_ = std::move(launcher);
  // -nographic: SeaBIOS copies the firmware's text console (iPXE's lines) to the serial port.
  // TCG by default, as on a machine without KVM; MIDWIFE_E2E_ACCEL=kvm for speed.
  const char* accel = std::getenv("MIDWIFE_E2E_ACCEL");
  argv_.push_back(kQemu);
  argv_.push_back("-accel");
  argv_.push_back(accel != nullptr && *accel != '\0' ? accel : "tcg");
  for (const char* a : {"-machine", "pc", "-m", "256", "-nodefaults", "-nographic", "-monitor",
                        "none", "-no-reboot"}) {
    argv_.push_back(a);
  }
  for (std::string& a : firmware) argv_.push_back(std::move(a));
  for (std::string& a : network) argv_.push_back(std::move(a));
}

std::vector<std::string> QemuGuest::UserNetwork(const std::string& mac,
                                                const std::string& boot_url) {
  return {"-netdev", "user,id=n0,bootfile=" + boot_url, "-device",
          "virtio-net-pci,netdev=n0,mac=" + mac};
}

void QemuGuest::Start() {
  ++boots_;
  std::vector<std::string> argv = argv_;
  argv.push_back("-serial");
  argv.push_back(absl::StrCat("file:", dir_, "/", name_, ".boot", boots_, ".serial"));
  std::ofstream(absl::StrCat(dir_, "/", name_, ".boot", boots_, ".serial")).flush();
  failure_.clear();
  started_ = std::chrono::steady_clock::now();
  qemu_ = std::make_unique<ChildProcess>(
      argv, absl::StrCat(dir_, "/", name_, ".boot", boots_, ".qemu.log"));
}

bool QemuGuest::WaitForPowerOff(std::chrono::seconds timeout) {
  const auto deadline = started_ + timeout;
  int status = 0;
  while (!qemu_->Exited(&status)) {
    if (std::chrono::steady_clock::now() > deadline) {
      qemu_->Stop(SIGKILL);
      seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      failure_ = absl::StrCat(name_, " boot ", boots_, " did not power off within ",
                              timeout.count(), " s");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    failure_ = absl::StrCat(name_, " boot ", boots_, ": QEMU ended with wait status ", status);
    return false;
  }
  std::cout << "[ e2e ] " << name_ << " boot " << boots_ << ": powered off after " << seconds_
            << " s\n";
  return true;
}

std::string QemuGuest::Serial() const {
  return ReadFileOrEmpty(absl::StrCat(dir_, "/", name_, ".boot", boots_, ".serial"));
}

std::string QemuGuest::Describe() const {
  return absl::StrCat(
      "--- ", name_, " boot ", boots_, " (", seconds_, " s) ", failure_,
      "\n--- serial console (tail) ---\n", Tail(Serial(), kLogTailLines),
      "\n--- QEMU log (tail) ---\n",
      Tail(ReadFileOrEmpty(absl::StrCat(dir_, "/", name_, ".boot", boots_, ".qemu.log")),
           kLogTailLines),
      "\n");
}

void PrintLogsIfFailed(const Midwife* midwife, const std::vector<const QemuGuest*>& guests) {
  if (!::testing::Test::HasFailure()) return;
  for (const QemuGuest* g : guests) {
    if (g != nullptr) std::cout << g->Describe();
  }
  if (midwife != nullptr) std::cout << midwife->Logs();
}

}  // namespace midwife::e2e
