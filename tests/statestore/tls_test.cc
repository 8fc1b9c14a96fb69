// TLS and mutual TLS with certificates made by the real openssl CLI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file_io.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/test_certificates.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using testing::StateStoreServer;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(midwife::testing::MakeTestCertificates(tmp_.path(), {"server", "client"}).ok());
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
