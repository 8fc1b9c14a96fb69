#ifndef MIDWIFE_TESTS_BOOTSERVER_BOOT_STACK_H_
#define MIDWIFE_TESTS_BOOTSERVER_BOOT_STACK_H_

// A real state store and a real boot server (HTTP and TFTP on 127.0.0.1) in a
// temporary folder, for fault tests: the boot server can be killed with
// SIGKILL and started again on the same ports, over the same state store.
// Both daemons append to log files that outlive restarts (store_log_path(),
// boot_log_path()).

#include <memory>
#include <string>
#include <vector>

#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"

namespace midwife::testing {

class BootStack {
 public:
  BootStack();
  ~BootStack();

  // Starts the state store. False (and a log on stderr) if it did not come up.
  bool StartStore();
  // Starts the boot server with `extra_flags`; ports 0 (any) the first time,
  // the ports it had before on a restart. False if it did not come up.
  bool StartBootServer(std::vector<std::string> extra_flags = {});
  // SIGKILL: no shutdown, whatever was in flight is cut.
  void KillBootServer();

  // Imports an ESXi-shaped image name@version whose big module s.v00 holds
  // `big_module`. Returns the imagebuilder output on failure, "" on success.
  std::string MakeImage(const std::string& name, const std::string& version,
                        const std::string& big_module);

  // `bootserver <args> --statestore ...`: the admin commands.
  CommandResult Admin(std::vector<std::string> args) const;
  // The host token the state store issues for `mac`.
  std::string HostToken(const std::string& mac) const;
  // curl -sS --max-time 20 <args>: body (and whatever -w adds) in out.
  static CommandResult Curl(std::vector<std::string> args);

  const TempDir& tmp() const { return tmp_; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  uint16_t http_port() const { return http_port_; }
  uint16_t tftp_port() const { return tftp_port_; }
  std::string boot_log_path() const { return tmp_.File("boot.log"); }
  std::string store_log_path() const { return tmp_.File("data.log"); }
  std::string repo_dir() const { return tmp_.File("repo"); }
  statestore::testing::StateStoreServer& store() { return *store_; }

 private:
  TempDir tmp_;
  std::unique_ptr<statestore::testing::StateStoreServer> store_;
  std::unique_ptr<ChildProcess> boot_;
  uint16_t http_port_ = 0;
  uint16_t tftp_port_ = 0;
  int boot_starts_ = 0;
};

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_BOOTSERVER_BOOT_STACK_H_
