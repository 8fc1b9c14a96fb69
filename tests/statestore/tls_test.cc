// TLS and mutual TLS with certificates made by the real openssl CLI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file_io.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using testing::StateStoreServer;

// Issues an EC key and a certificate for 127.0.0.1 signed by the test CA.
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

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tmp_.File("ca.key"),
                         "-out", tmp_.File("ca.crt"), "-subj", "/CN=midwife test CA", "-days", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ASSERT_TRUE(WriteFileAtomically(tmp_.File("san.ext"),
                                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
                    .ok());
    Issue(tmp_, "server");
    Issue(tmp_, "client");
  }
  ClientOptions Options(const StateStoreServer& server, bool with_client_cert) {
    ClientOptions o = server.AdminClientOptions();
    o.tls_ca_file = tmp_.File("ca.crt");
    if (with_client_cert) {
      o.tls_cert_file = tmp_.File("client.crt");
      o.tls_key_file = tmp_.File("client.key");
    }
    o.deadline = std::chrono::seconds(5);
    return o;
  }
  TempDir tmp_;
};

TEST_F(TlsTest, MutualTlsAcceptsOnlyClientsWithACertificateFromTheCa) {
  StateStoreServer server(tmp_.File("data"),
                          {"--tls-cert", tmp_.File("server.crt"), "--tls-key",
                           tmp_.File("server.key"), "--tls-client-ca", tmp_.File("ca.crt")});
  ASSERT_TRUE(server.Start()) << server.log();
  const std::string archive = midwife::testing::MakeEsxiStateTgz({{"etc/hosts", "tls\n"}});

  auto with_cert = StateStoreClient::Connect(Options(server, true));
  ASSERT_TRUE(with_cert.ok());
  auto stored = (*with_cert)->Backup("02:00:00:00:00:01", archive);
  EXPECT_TRUE(stored.ok()) << stored.status();

  auto without_cert = StateStoreClient::Connect(Options(server, false));
  ASSERT_TRUE(without_cert.ok());
  EXPECT_EQ((*without_cert)->Stat("02:00:00:00:00:01").status().code(),
            absl::StatusCode::kUnavailable);

  auto plaintext = server.AdminClient();
  EXPECT_EQ(plaintext->Stat("02:00:00:00:00:01").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, RefusesPlaintextOnNonLoopbackWithoutInsecure) {
  auto r = RunCommand({midwife::testing::BinaryPath("statestore"), "serve", "--data",
                       tmp_.File("data"), "--listen", "0.0.0.0:0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::HasSubstr("without TLS"));
}

TEST_F(TlsTest, RefusesKeyFileReadableByOthers) {
  ::chmod(tmp_.File("server.key").c_str(), 0644);
  auto r = RunCommand({midwife::testing::BinaryPath("statestore"), "serve", "--data",
                       tmp_.File("data"), "--listen", "127.0.0.1:0", "--tls-cert",
                       tmp_.File("server.crt"), "--tls-key", tmp_.File("server.key")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace midwife::statestore
