#include "tests/bootserver/boot_stack.h"

#include <signal.h>

#include <iostream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"

namespace midwife::testing {

BootStack::BootStack() = default;

BootStack::~BootStack() {
  // The boot server first: it holds connections to the store.
  boot_.reset();
  store_.reset();
}

bool BootStack::StartStore() {
  store_ = std::make_unique<statestore::testing::StateStoreServer>(tmp_.File("data"));
  if (!store_->Start()) {
    std::cerr << "state store did not start:\n" << store_->log();
    return false;
  }
  return true;
}

bool BootStack::StartBootServer(std::vector<std::string> extra_flags) {
  const std::string ready = tmp_.File(absl::StrCat("boot.ready.", ++boot_starts_));
  std::vector<std::string> argv = {BinaryPath("bootserver"),
                                   "serve",
                                   "--repo",
                                   repo_dir(),
                                   "--statestore",
                                   store_->address(),
                                   "--statestore-token-file",
                                   tmp_.File("data/admin.token"),
                                   "--http",
                                   absl::StrCat("127.0.0.1:", http_port_),
                                   "--tftp",
                                   absl::StrCat("127.0.0.1:", tftp_port_),
                                   "--advertise",
                                   "127.0.0.1",
                                   "--ready-file",
                                   ready};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  boot_ = std::make_unique<ChildProcess>(argv, boot_log_path());
  const std::string line = WaitForFile(ready, std::chrono::seconds(20), boot_.get());
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("http=[0-9.]+:([0-9]+) tftp=([0-9]+)"))) {
    std::cerr << "boot server did not start:\n" << boot_->Log();
    return false;
  }
  http_port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
  tftp_port_ = static_cast<uint16_t>(std::stoi(m[2].str()));
  return true;
}

void BootStack::KillBootServer() {
  if (boot_) boot_->Stop(SIGKILL);
}

std::string BootStack::MakeImage(const std::string& name, const std::string& version,
                                 const std::string& big_module) {
  const std::string dir = tmp_.File("media-" + name + "-" + version);
  if (RunCommand({"/bin/mkdir", "-p", dir}).exit_code != 0) return "cannot make " + dir;
  const std::vector<std::pair<std::string, std::string>> files = {
      {"boot.cfg", absl::StrCat("bootstate=0\ntitle=Test ", name, " ", version,
                                "\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- "
                                "/s.v00\nbuild=8.0.",
                                version, "\n")},
      {"b.b00", "kernel " + version},
      {"jumpstrt.gz", "jump"},
      {"s.v00", big_module},
      {"mboot.efi", "MZ mboot " + version}};
  for (const auto& [file, bytes] : files) {
    if (!WriteFileAtomically(dir + "/" + file, bytes).ok()) return "cannot write " + file;
  }
  auto r = RunCommand({BinaryPath("imagebuilder"), "import", dir, "--name", name, "--version",
                       version, "--repo", repo_dir()});
  return r.exit_code == 0 ? "" : r.out;
}

CommandResult BootStack::Admin(std::vector<std::string> args) const {
  std::vector<std::string> argv = {BinaryPath("bootserver")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--statestore", store_->address(), "--statestore-token-file",
                           tmp_.File("data/admin.token")});
  return RunCommand(argv);
}

std::string BootStack::HostToken(const std::string& mac) const {
  auto r = RunCommand({BinaryPath("statestore"), "token", "--mac", mac, "--server",
                       store_->address(), "--token", store_->admin_token()});
  std::string token = r.exit_code == 0 ? r.out : "";
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

CommandResult BootStack::Curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

}  // namespace midwife::testing
