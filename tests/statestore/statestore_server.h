#ifndef MIDWIFE_TESTS_STATESTORE_STATESTORE_SERVER_H_
#define MIDWIFE_TESTS_STATESTORE_STATESTORE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "statestore/client.h"
#include "tests/support/child_process.h"

namespace midwife::statestore::testing {

// A real `statestore serve` process on a loopback port chosen by the kernel,
// over a data folder that outlives restarts of the process.
class StateStoreServer {
 public:
  explicit StateStoreServer(std::string data_dir, std::vector<std::string> extra_flags = {});
  // Starts the process and waits (bounded) until it serves. False if it did
  // not come up; log() says why.
  bool Start();
  // Before Start: listen on `address` ("127.0.0.1:PORT", e.g. the address()
  // of an earlier server over the same data) instead of a port of the
  // kernel's choice, so that clients of that earlier server reconnect.
  void set_listen(std::string address) { listen_ = std::move(address); }
  void Kill9();
  int Terminate();  // SIGTERM, returns the wait status.

  const std::string& address() const { return address_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::string admin_token() const;
  std::string log() const;
  ClientOptions AdminClientOptions() const;
  std::unique_ptr<StateStoreClient> AdminClient() const;
  std::unique_ptr<StateStoreClient> ClientWithToken(const std::string& token) const;

 private:
  std::string data_dir_;
  std::vector<std::string> extra_flags_;
  std::string listen_ = "127.0.0.1:0";
  std::string address_;
  int starts_ = 0;
  std::unique_ptr<midwife::testing::ChildProcess> process_;
};

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_STATESTORE_SERVER_H_
