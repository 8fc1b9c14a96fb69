#ifndef MIDWIFE_TESTS_STATESTORE_ETCD_CLUSTER_H_
#define MIDWIFE_TESTS_STATESTORE_ETCD_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace grpc {
class Channel;
}

namespace midwife::statestore::testing {

// A real etcd cluster (Debian's /usr/bin/etcd) of `size` members on free
// loopback ports, each with a data folder under `dir`, for tests. Fast
// elections (50 ms heartbeat, 500 ms election timeout) keep failover tests
// short. The destructor kills every member.
class EtcdCluster {
 public:
  // Path of the etcd binary, or "" when it is not installed.
  static std::string Binary();

  EtcdCluster(std::string dir, int size = 3, std::vector<std::string> extra_flags = {});
  ~EtcdCluster();

  // Before Start: clients must speak TLS and present a certificate signed by
  // `ca_file`; members serve `cert_file`/`key_file` (which the helper's own
  // polling also presents as its client certificate).
  void RequireTls(std::string ca_file, std::string cert_file, std::string key_file);

  // Starts every member and waits (bounded) until each answers a
  // linearizable read, i.e. the cluster has a leader and a quorum. False on
  // timeout; Logs() says why.
  bool Start();
  // Waits until the member answers a linearizable read (polling, bounded).
  bool WaitReady(int member, std::chrono::milliseconds timeout);

  void Kill9(int member);
  // Starts a killed member again over its data folder and waits until ready.
  bool Restart(int member);
  bool Running(int member) const { return processes_[member] != nullptr; }
  pid_t Pid(int member) const { return processes_[member] ? processes_[member]->pid() : -1; }

  // The member that is leader according to a running member; -1 if none
  // answers within `timeout`.
  int Leader(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // etcd's backend size of `member` in bytes (Maintenance.Status dbSize);
  // -1 if it does not answer.
  int64_t DbSize(int member);
  // Compacts the cluster's history up to its current revision (physically)
  // and returns that revision; -1 on failure.
  int64_t CompactAll();

  // "127.0.0.1:port" of each member's client URL.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  // The same, comma-separated, for --etcd-endpoints.
  std::string EndpointsFlag() const;
  std::string Logs() const;

 private:
  void Launch(int member, bool fresh);
  std::shared_ptr<grpc::Channel> Channel(int member) const;

  std::string dir_;
  std::vector<std::string> extra_flags_;
  std::vector<std::string> endpoints_;
  std::vector<std::string> peer_urls_;
  std::string ca_file_, cert_file_, key_file_;  // Empty: plaintext.
  std::vector<std::unique_ptr<midwife::testing::ChildProcess>> processes_;
};

}  // namespace midwife::statestore::testing

#endif  // MIDWIFE_TESTS_STATESTORE_ETCD_CLUSTER_H_
