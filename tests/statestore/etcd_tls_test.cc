// The etcd engine over TLS with client certificates (etcd's
// --client-cert-auth), certificates made by the real openssl CLI.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file_io.h"
#include "statestore/etcd_engine.h"
#include "tests/statestore/etcd_cluster.h"
#include "tests/support/child_process.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using testing::EtcdCluster;

// An EC key and a certificate for 127.0.0.1 signed by the test CA in `dir`.
void Issue(const TempDir& dir, const std::string& name) {
  auto key = dir.File(name + ".key");
  auto csr = dir.File(name + ".csr");
  auto r = RunCommand({"/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                       "-subj", "/CN=" + name});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunCommand({"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", dir.File("ca.crt"),
                  "-CAkey", dir.File("ca.key"), "-CAcreateserial", "-days", "2", "-out",
                  dir.File(name + ".crt"), "-extfile", dir.File("san.ext")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ::chmod(key.c_str(), 0600);
}

TEST(EtcdTlsTest, EngineNeedsTheCaAndAClientCertificateTheClusterTrusts) {
  if (EtcdCluster::Binary().empty()) {
    GTEST_SKIP() << "etcd is not installed (apt-get install etcd-server): etcd TLS test skipped";
  }
  TempDir tmp;
  auto r =
      RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tmp.File("ca.key"), "-out",
                  tmp.File("ca.crt"), "-subj", "/CN=midwife etcd test CA", "-days", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(
      WriteFileAtomically(tmp.File("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").ok());
  Issue(tmp, "member");
  Issue(tmp, "frontend");

  EtcdCluster cluster(tmp.File("etcd"), 1);
  cluster.RequireTls(tmp.File("ca.crt"), tmp.File("member.crt"), tmp.File("member.key"));
  ASSERT_TRUE(cluster.Start()) << cluster.Logs();

  EtcdEngineOptions options;
  options.endpoints = cluster.endpoints();
  options.attempt_timeout = std::chrono::seconds(2);
  options.call_timeout = std::chrono::seconds(4);
  options.ca_file = tmp.File("ca.crt");
  options.cert_file = tmp.File("frontend.crt");
  options.key_file = tmp.File("frontend.key");
  auto engine = EtcdEngine::Connect(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  WriteBatch batch;
  batch.puts = {{"tls/k", "v"}};
  ASSERT_TRUE((*engine)->Commit({{"tls/k", std::nullopt}}, batch).ok());
  auto got = (*engine)->Get("tls/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(**got, "v");

  // Without a client certificate the cluster refuses the handshake.
  options.cert_file.clear();
  options.key_file.clear();
  options.attempt_timeout = std::chrono::milliseconds(500);
  options.call_timeout = std::chrono::milliseconds(1000);
  auto anonymous = EtcdEngine::Connect(options);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_FALSE((*anonymous)->Get("tls/k").ok());
  // Nor does plaintext reach it.
  options.ca_file.clear();
  auto plaintext = EtcdEngine::Connect(options);
  ASSERT_TRUE(plaintext.ok());
  EXPECT_FALSE((*plaintext)->Get("tls/k").ok());
}

TEST(EtcdTlsTest, ClientCertificateWithoutCaIsRefusedAtConnect) {
  EtcdEngineOptions options;
  options.endpoints = {"127.0.0.1:2379"};
  options.cert_file = "frontend.crt";
  options.key_file = "frontend.key";
  EXPECT_TRUE(absl::IsInvalidArgument(EtcdEngine::Connect(options).status()));
  options.key_file.clear();
  options.ca_file = "ca.crt";
  EXPECT_TRUE(absl::IsInvalidArgument(EtcdEngine::Connect(options).status()));
}

}  // namespace
}  // namespace midwife::statestore
