#include "tests/statestore/statestore_server.h"

#include <algorithm>
#include <cstdlib>

#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"

namespace midwife::statestore::testing {

StateStoreServer::StateStoreServer(std::string data_dir, std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)), extra_flags_(std::move(extra_flags)) {}

bool StateStoreServer::Start() {
  std::string ready = absl::StrCat(data_dir_, ".ready.", ++starts_);
  ::unlink(ready.c_str());
  std::vector<std::string> argv = {midwife::testing::BinaryPath("statestore"), "serve",
                                   "--data", data_dir_, "--listen", listen_,
                                   "--ready-file", ready};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  process_ = std::make_unique<midwife::testing::ChildProcess>(argv, data_dir_ + ".log");
  std::string bound =
      midwife::testing::WaitForFile(ready, std::chrono::seconds(20), process_.get());
  while (!bound.empty() && bound.back() == '\n') bound.pop_back();
  address_ = bound;
  return !address_.empty();
}

void StateStoreServer::Kill9() {
  if (process_) process_->Stop(SIGKILL);
}

int StateStoreServer::Terminate() { return process_ ? process_->Stop(SIGTERM) : -1; }

std::string StateStoreServer::admin_token() const {
  auto token = ReadSecretFile(data_dir_ + "/admin.token");
  return token.ok() ? *token : "";
}

std::string StateStoreServer::log() const { return process_ ? process_->Log() : ""; }

ClientOptions StateStoreServer::AdminClientOptions() const {
  ClientOptions options;
  options.server = address_;
  options.token = admin_token();
  // Sanitizer builds run many times slower (scripts/ci-hardening.sh sets
  // MIDWIFE_TEST_TIME_SCALE): an 8 MiB round trip under TSan takes longer
  // than 30 s on two cores.
  const char* scale = std::getenv("MIDWIFE_TEST_TIME_SCALE");
  options.deadline = std::chrono::seconds(30) * std::max(1, scale != nullptr ? std::atoi(scale) : 1);
  return options;
}

std::unique_ptr<StateStoreClient> StateStoreServer::AdminClient() const {
  return ClientWithToken(admin_token());
}

std::unique_ptr<StateStoreClient> StateStoreServer::ClientWithToken(const std::string& token) const {
  ClientOptions options = AdminClientOptions();
  options.token = token;
  auto client = StateStoreClient::Connect(options);
  return client.ok() ? *std::move(client) : nullptr;
}

}  // namespace midwife::statestore::testing
