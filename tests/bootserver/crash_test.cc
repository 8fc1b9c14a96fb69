// kill -9 of the boot server: transfers in flight are cut, it starts again
// on the same ports, clients that retry complete byte-exact, and nothing it
// acknowledged is lost. It keeps no durable state of its own: it answers a
// birth report or a state upload 2xx only once the state store has it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "tests/bootserver/boot_stack.h"
#include "tests/bootserver/test_bytes.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BootStack;
using ::midwife::testing::ChildProcess;
using ::testing::HasSubstr;

constexpr char kMac[] = "00:50:56:aa:bb:09";
constexpr char kMacDashed[] = "00-50-56-aa-bb-09";

std::string Bytes(size_t n, uint32_t seed) { return ::midwife::bootserver::testing::SeededBytes(n, seed); }

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartStore());
    ASSERT_EQ(stack_.MakeImage("esxi", "1", module_), "");
    ASSERT_TRUE(stack_.StartBootServer());
    ASSERT_EQ(stack_.Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
    token_ = stack_.HostToken(kMac);
    ASSERT_FALSE(token_.empty());
  }

  void RestartBootServer() {
    stack_.KillBootServer();
    // Same ports: clients retry the addresses they had.
    ASSERT_TRUE(stack_.StartBootServer());
  }

  std::string Script() {
    return BootStack::Curl({absl::StrCat(stack_.http_url(), "/boot/", kMacDashed,
                                         "/boot.ipxe?platform=pcbios")})
        .out;
  }
  std::string Post(const std::string& what, std::vector<std::string> args) {
    std::vector<std::string> argv = {"-o", "/dev/null", "-w", "%{http_code}",
                                     "-X", "POST",      "-H", "Authorization: Bearer " + token_};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(absl::StrCat(stack_.http_url(), "/hosts/", kMacDashed, "/", what));
    return BootStack::Curl(argv).out;
  }

  // A TFTP client as a PXE ROM: gives up 3 s after its server went silent
  // (rexmt 1, timeout 3), and is then started again by the caller.
  std::unique_ptr<ChildProcess> TftpGet(const std::string& remote, const std::string& local) {
    EXPECT_TRUE(
        WriteFileAtomically(local + ".commands", absl::StrCat("binary\nrexmt 1\ntimeout 3\nget ",
                                                              remote, " ", local, "\nquit\n"))
            .ok());
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 absl::StrCat("exec /usr/bin/tftp 127.0.0.1 ", stack_.tftp_port(),
                                              " < ", local, ".commands")},
        local + ".log");
  }

  BootStack stack_;
  std::string token_;
  const std::string module_ = Bytes(48 << 20, 5);
};

TEST_F(CrashTest, TransfersCutByAKillCompleteByteExactWhenClientsRetry) {
  const std::string script = Script();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(script, m, std::regex("/images/[0-9a-f]{64}/s.v00"))) << script;
  const std::string module_url = stack_.http_url() + m[0].str();
  const std::string http_file = stack_.tmp().File("http.s.v00");
  const std::string tftp_file = stack_.tmp().File("tftp.s.v00");
  const std::string blob = "blobs/sha256/" + Sha256Hex(module_);

  // curl retries once the server is back (-C -: with a Range request).
  ChildProcess http(
      {"/usr/bin/curl", "-sS", "--limit-rate", "16M", "--retry", "30", "--retry-all-errors",
       "--retry-delay", "1", "--retry-max-time", "60", "-C", "-", "-o", http_file, module_url},
      stack_.tmp().File("curl.log"));
  auto tftp = TftpGet(blob, tftp_file);

  // Kill once both are under way and neither is done.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((FileSize(http_file) < (1 << 20) || FileSize(tftp_file) < (1 << 20)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const uint64_t http_at_kill = FileSize(http_file);
  const uint64_t tftp_at_kill = FileSize(tftp_file);
  RestartBootServer();
  ASSERT_GT(http_at_kill, 0u);
  ASSERT_GT(tftp_at_kill, 0u);
  ASSERT_LT(http_at_kill, module_.size()) << "the HTTP transfer ended before the kill";
  ASSERT_LT(tftp_at_kill, module_.size()) << "the TFTP transfer ended before the kill";

  int status = 0;
  int tftp_attempts = 1;
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(40)) {
    const bool http_done = http.Exited(&status);
    if (tftp->Exited(&status)) {
      if (FileSize(tftp_file) == module_.size() || tftp_attempts == 5) {
        if (http_done) break;
      } else {
        // TFTP cannot resume: the whole file again, from the new server.
        ++tftp_attempts;
        tftp = TftpGet(blob, tftp_file);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto got_http = ReadFile(http_file);
  ASSERT_TRUE(got_http.ok());
  EXPECT_EQ(Sha256Hex(*got_http), Sha256Hex(module_)) << http.Log();
  auto got_tftp = ReadFile(tftp_file);
  ASSERT_TRUE(got_tftp.ok());
  EXPECT_EQ(Sha256Hex(*got_tftp), Sha256Hex(module_)) << tftp->Log();
  EXPECT_GE(tftp_attempts, 2);  // the cut transfer itself could not finish
}

TEST_F(CrashTest, WhatTheBootServerAcknowledgedSurvivesAKill) {
  ASSERT_THAT(Script(), HasSubstr("esxi@1"));
  const std::string state = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "acked\n"}});
  ASSERT_TRUE(WriteFileAtomically(stack_.tmp().File("state.tgz"), state).ok());
  ASSERT_EQ(Post("report", {"-d", "status=ok&image=esxi@1"}), "200");
  ASSERT_EQ(Post("state", {"--data-binary", "@" + stack_.tmp().File("state.tgz")}), "200");
  RestartBootServer();  // right after the acknowledgements

  // The birth report made the trial image active; the new process knows
  // nothing but what the store holds.
  EXPECT_THAT(stack_.Admin({"host", "--mac", kMac}).out, HasSubstr("active:     esxi@1 (valid)"));
  // The host's next boot gets the state it uploaded.
  EXPECT_THAT(Script(), HasSubstr("/state.tgz"));
  EXPECT_EQ(
      BootStack::Curl({absl::StrCat(stack_.http_url(), "/boot/", kMacDashed, "/state.tgz")}).out,
      state);
}

TEST_F(CrashTest, ABootCutByAKillStartsOverFromItsScript) {
  const std::string state = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "before\n"}});
  ASSERT_TRUE(WriteFileAtomically(stack_.tmp().File("state.tgz"), state).ok());
  ASSERT_EQ(Post("state", {"--data-binary", "@" + stack_.tmp().File("state.tgz")}), "200");
  Script();
  const std::string state_url = absl::StrCat(stack_.http_url(), "/boot/", kMacDashed, "/state.tgz");
  ASSERT_EQ(BootStack::Curl({state_url}).out, state);
  RestartBootServer();
  // Boots are bound in memory only: the boot the kill cut is gone, so its
  // state is not served until the host starts over (as its firmware does
  // when a load fails)...
  EXPECT_EQ(BootStack::Curl({"-o", "/dev/null", "-w", "%{http_code}", state_url}).out, "403");
  // ...and then it is, from the store.
  Script();
  EXPECT_EQ(BootStack::Curl({state_url}).out, state);
}

}  // namespace
}  // namespace midwife::bootserver
