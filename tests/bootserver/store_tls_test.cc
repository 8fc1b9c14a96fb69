// The boot server reaching a state store that demands mutual TLS: with the
// client certificate it boots hosts; without one, hosts are told to retry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "core/file_io.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/test_certificates.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::RunCommand;
using ::testing::HasSubstr;

class StoreTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(midwife::testing::MakeTestCertificates(tmp_.path(), {"store", "bootserver"}).ok());
    store_ = std::make_unique<statestore::testing::StateStoreServer>(
        tmp_.File("data"),
        std::vector<std::string>{"--tls-cert", tmp_.File("store.crt"), "--tls-key",
                                 tmp_.File("store.key"), "--tls-client-ca", tmp_.File("ca.crt")});
    ASSERT_TRUE(store_->Start()) << store_->log();
    const std::string media = tmp_.File("media");
    ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", media}).exit_code, 0);
    ASSERT_TRUE(WriteFileAtomically(media + "/boot.cfg", "kernel=/b.b00\nmodules=/s.v00\n").ok());
    ASSERT_TRUE(WriteFileAtomically(media + "/b.b00", "kernel").ok());
    ASSERT_TRUE(WriteFileAtomically(media + "/s.v00", "module").ok());
    auto r = RunCommand({BinaryPath("imagebuilder"), "import", media, "--name", "esxi", "--version",
                         "1", "--repo", tmp_.File("repo")});
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  // The --statestore* flags of a bootserver command, with or without the
  // client certificate.
  std::vector<std::string> StoreFlags(bool client_cert) const {
    std::vector<std::string> flags = {"--statestore",
                                      store_->address(),
                                      "--statestore-token-file",
                                      tmp_.File("data/admin.token"),
                                      "--statestore-ca",
                                      tmp_.File("ca.crt")};
    if (client_cert) {
      flags.insert(flags.end(), {"--statestore-cert", tmp_.File("bootserver.crt"),
                                 "--statestore-key", tmp_.File("bootserver.key")});
    }
    return flags;
  }

  // Starts a boot server; returns its base URL, empty if it did not start.
  std::string StartBootServer(const std::string& name, bool client_cert) {
    const std::string ready = tmp_.File(name + ".ready");
    std::vector<std::string> argv = {BinaryPath("bootserver"),
                                     "serve",
                                     "--repo",
                                     tmp_.File("repo"),
                                     "--http",
                                     "127.0.0.1:0",
                                     "--tftp",
                                     "",
                                     "--advertise",
                                     "127.0.0.1",
                                     "--ready-file",
                                     ready};
    for (const std::string& f : StoreFlags(client_cert)) argv.push_back(f);
    servers_.push_back(
        std::make_unique<midwife::testing::ChildProcess>(argv, tmp_.File(name + ".log")));
    const std::string line =
        midwife::testing::WaitForFile(ready, std::chrono::seconds(20), servers_.back().get());
    std::smatch m;
    if (!std::regex_search(line, m, std::regex("http=([0-9.:]+)"))) return "";
    return "http://" + m[1].str();
  }

  static std::string Script(const std::string& base) {
    return RunCommand({"/usr/bin/curl", "-sS", "--max-time", "20",
                       base + "/boot/00-50-56-aa-bb-07/boot.ipxe?platform=pcbios"})
        .out;
  }

  midwife::testing::TempDir tmp_;
  std::unique_ptr<statestore::testing::StateStoreServer> store_;
  std::vector<std::unique_ptr<midwife::testing::ChildProcess>> servers_;
};

TEST_F(StoreTlsTest, BootServerWithAClientCertificateBootsHostsAndOneWithoutIsRefused) {
  std::vector<std::string> assign = {BinaryPath("bootserver"), "assign",  "--mac",
                                     "00:50:56:aa:bb:07",      "--image", "esxi@1"};
  std::vector<std::string> without = assign;
  for (const std::string& f : StoreFlags(false)) without.push_back(f);
  EXPECT_NE(RunCommand(without).exit_code, 0);  // the admin CLI needs the certificate too
  for (const std::string& f : StoreFlags(true)) assign.push_back(f);
  auto assigned = RunCommand(assign);
  ASSERT_EQ(assigned.exit_code, 0) << assigned.out;

  const std::string with_cert = StartBootServer("with-cert", true);
  ASSERT_FALSE(with_cert.empty()) << servers_.back()->Log();
  EXPECT_THAT(Script(with_cert), HasSubstr("kernel http://127.0.0.1"));

  const std::string no_cert = StartBootServer("no-cert", false);
  ASSERT_FALSE(no_cert.empty()) << servers_.back()->Log();
  const std::string refused = Script(no_cert);
  EXPECT_THAT(refused, HasSubstr("retrying in"));
  EXPECT_THAT(refused, ::testing::Not(HasSubstr("kernel http://")));
}

}  // namespace
}  // namespace midwife::bootserver
