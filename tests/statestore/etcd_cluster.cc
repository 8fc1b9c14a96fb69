#include "tests/statestore/etcd_cluster.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "proto/etcd/rpc.grpc.pb.h"

namespace midwife::statestore::testing {
namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(50);

// A loopback port that was free a moment ago. etcd cannot be told to pick
// its own and report it, so the test picks; another process could take the
// port in between, which would fail the start loudly, not silently.
int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

// A fresh channel per poll: a reused one would wait out gRPC's reconnect
// backoff (1 s, growing) after the member refused a connection while
// starting.
std::shared_ptr<grpc::Channel> EtcdCluster::Channel(int member) const {
  if (ca_file_.empty()) {
    return grpc::CreateChannel(endpoints_[member], grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(ca_file_).value_or("");
  ssl.pem_cert_chain = ReadFile(cert_file_).value_or("");
  ssl.pem_private_key = ReadFile(key_file_).value_or("");
  return grpc::CreateChannel(endpoints_[member], grpc::SslCredentials(ssl));
}

void EtcdCluster::RequireTls(std::string ca_file, std::string cert_file, std::string key_file) {
  ca_file_ = std::move(ca_file);
  cert_file_ = std::move(cert_file);
  key_file_ = std::move(key_file);
}

std::string EtcdCluster::Binary() {
  for (const char* path : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

EtcdCluster::EtcdCluster(std::string dir, int size, std::vector<std::string> extra_flags)
    : dir_(std::move(dir)), extra_flags_(std::move(extra_flags)), processes_(size) {
  std::filesystem::create_directories(dir_);
  for (int i = 0; i < size; ++i) {
    endpoints_.push_back(absl::StrCat("127.0.0.1:", FreeLoopbackPort()));
    peer_urls_.push_back(absl::StrCat("http://127.0.0.1:", FreeLoopbackPort()));
  }
}

EtcdCluster::~EtcdCluster() {
  for (auto& p : processes_) p.reset();  // SIGKILL.
}

std::string EtcdCluster::EndpointsFlag() const { return absl::StrJoin(endpoints_, ","); }

void EtcdCluster::Launch(int member, bool fresh) {
  std::vector<std::string> initial;
  for (size_t i = 0; i < peer_urls_.size(); ++i) {
    initial.push_back(absl::StrCat("m", i, "=", peer_urls_[i]));
  }
  const std::string client_url = (ca_file_.empty() ? "http://" : "https://") + endpoints_[member];
  std::vector<std::string> argv = {
      Binary(),
      "--name",
      absl::StrCat("m", member),
      "--data-dir",
      absl::StrCat(dir_, "/m", member),
      "--listen-client-urls",
      client_url,
      "--advertise-client-urls",
      client_url,
      "--listen-peer-urls",
      peer_urls_[member],
      "--initial-advertise-peer-urls",
      peer_urls_[member],
      "--initial-cluster",
      absl::StrJoin(initial, ","),
      "--initial-cluster-state",
      fresh ? "new" : "existing",
      "--initial-cluster-token",
      absl::StrCat("midwife-test-", ::getpid()),
      "--heartbeat-interval",
      "50",
      "--election-timeout",
      "500",
      "--logger",
      "zap",
      "--log-level",
      "warn",
  };
  if (!ca_file_.empty()) {
    argv.insert(argv.end(), {"--cert-file", cert_file_, "--key-file", key_file_,
                             "--trusted-ca-file", ca_file_, "--client-cert-auth"});
  }
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  processes_[member] = std::make_unique<midwife::testing::ChildProcess>(
      argv, absl::StrCat(dir_, "/m", member, ".log"));
}

bool EtcdCluster::Start() {
  for (size_t i = 0; i < processes_.size(); ++i) Launch(static_cast<int>(i), true);
  for (size_t i = 0; i < processes_.size(); ++i) {
    if (!WaitReady(static_cast<int>(i), std::chrono::seconds(30))) return false;
  }
  return true;
}

bool EtcdCluster::WaitReady(int member, std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    auto stub = etcdserverpb::KV::NewStub(Channel(member));
    int status = 0;
    if (!processes_[member] || processes_[member]->Exited(&status)) return false;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    etcdserverpb::RangeRequest request;
    request.set_key("health");
    etcdserverpb::RangeResponse response;
    if (stub->Range(&context, request, &response).ok()) return true;
    std::this_thread::sleep_for(kPollEvery);
  }
  return false;
}

void EtcdCluster::Kill9(int member) {
  if (processes_[member]) processes_[member]->Stop(SIGKILL);
  processes_[member].reset();
}

bool EtcdCluster::Restart(int member) {
  Launch(member, false);
  return WaitReady(member, std::chrono::seconds(30));
}

int EtcdCluster::Leader(std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    std::vector<uint64_t> ids(processes_.size(), 0);
    uint64_t leader = 0;
    for (size_t i = 0; i < processes_.size(); ++i) {
      if (!processes_[i]) continue;
      auto stub = etcdserverpb::Maintenance::NewStub(Channel(static_cast<int>(i)));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      etcdserverpb::StatusResponse response;
      if (!stub->Status(&context, etcdserverpb::StatusRequest(), &response).ok()) continue;
      ids[i] = response.header().member_id();
      if (response.leader() != 0) leader = response.leader();
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (leader != 0 && ids[i] == leader) return static_cast<int>(i);
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  return -1;
}

int64_t EtcdCluster::DbSize(int member) {
  auto stub = etcdserverpb::Maintenance::NewStub(Channel(member));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  etcdserverpb::StatusResponse response;
  if (!stub->Status(&context, etcdserverpb::StatusRequest(), &response).ok()) return -1;
  return response.dbsize();
}

int64_t EtcdCluster::CompactAll() {
  for (size_t i = 0; i < processes_.size(); ++i) {
    if (!processes_[i]) continue;
    auto channel = Channel(static_cast<int>(i));
    grpc::ClientContext status_context;
    status_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    etcdserverpb::StatusResponse status;
    if (!etcdserverpb::Maintenance::NewStub(channel)
             ->Status(&status_context, etcdserverpb::StatusRequest(), &status)
             .ok()) {
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    etcdserverpb::CompactionRequest request;
    request.set_revision(status.header().revision());
    request.set_physical(true);
    etcdserverpb::CompactionResponse response;
    if (etcdserverpb::KV::NewStub(channel)->Compact(&context, request, &response).ok()) {
      return status.header().revision();
    }
  }
  return -1;
}

std::string EtcdCluster::Logs() const {
  std::string out;
  for (size_t i = 0; i < processes_.size(); ++i) {
    if (processes_[i]) absl::StrAppend(&out, "--- m", i, "\n", processes_[i]->Log());
  }
  return out;
}

}  // namespace midwife::statestore::testing
