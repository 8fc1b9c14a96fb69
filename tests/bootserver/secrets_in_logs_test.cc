// Tokens never reach the daemons' logs: a boot, a birth report and a state
// upload, the refusals an attacker would cause (wrong token, another host's
// token, another address, a bad body), and a TFTP boot.cfg go through a real
// state store and boot server; then neither log holds a token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "tests/bootserver/boot_stack.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BootStack;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMac[] = "00:50:56:aa:bb:0a";
constexpr char kMacDashed[] = "00-50-56-aa-bb-0a";
constexpr char kOtherMac[] = "00:50:56:aa:bb:0b";
constexpr char kOtherMacDashed[] = "00-50-56-aa-bb-0b";

TEST(SecretsInLogsTest, NoTokenReachesTheDaemonsLogs) {
  BootStack stack;
  ASSERT_TRUE(stack.StartStore());
  ASSERT_EQ(stack.MakeImage("esxi", "1", "module bytes"), "");
  ASSERT_TRUE(stack.StartBootServer());
  ASSERT_EQ(stack.Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
  ASSERT_EQ(stack.Admin({"assign", "--mac", kOtherMac, "--image", "esxi@1"}).exit_code, 0);
  const std::string token = stack.HostToken(kMac);
  const std::string other_token = stack.HostToken(kOtherMac);
  const std::string admin_token = stack.store().admin_token();
  ASSERT_FALSE(token.empty());
  ASSERT_FALSE(other_token.empty());
  ASSERT_FALSE(admin_token.empty());

  const std::string host = absl::StrCat(stack.http_url(), "/boot/", kMacDashed);
  const std::string hosts = absl::StrCat(stack.http_url(), "/hosts/", kMacDashed);
  auto code = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"-o", "/dev/null", "-w", "%{http_code}"});
    return BootStack::Curl(args).out;
  };
  const std::string state = midwife::testing::MakeEsxiStateTgz({{"etc/motd", "secret\n"}});
  ASSERT_TRUE(WriteFileAtomically(stack.tmp().File("state.tgz"), state).ok());
  const std::string bearer = "Authorization: Bearer " + token;

  // The boot, as the host does it: script, boot.cfg over HTTP and TFTP
  // (both carry the token), state, birth report, state upload.
  ASSERT_THAT(BootStack::Curl({host + "/boot.ipxe?platform=pcbios"}).out, HasSubstr("esxi@1"));
  ASSERT_THAT(BootStack::Curl({host + "/boot.cfg"}).out, HasSubstr(token));
  ASSERT_THAT(BootStack::Curl({absl::StrCat("tftp://127.0.0.1:", stack.tftp_port(), "/", kMacDashed,
                                            "/boot.cfg")})
                  .out,
              HasSubstr(token));
  EXPECT_EQ(code({"-X", "POST", "-d", "status=ok", "-H", bearer, hosts + "/report"}), "200");
  EXPECT_EQ(code({"-X", "POST", "--data-binary", "@" + stack.tmp().File("state.tgz"), "-H", bearer,
                  hosts + "/state"}),
            "200");
  EXPECT_EQ(code({"-X", "POST", "--data-binary", "@" + stack.tmp().File("state.tgz"), "-H",
                  "X-Midwife-Token: " + token, hosts + "/state"}),
            "200");
  EXPECT_EQ(code({host + "/state.tgz"}), "200");

  // What an attacker would try, and what a broken host would send.
  EXPECT_EQ(code({"-X", "POST", "-d", "status=ok", "-H", "Authorization: Bearer " + other_token,
                  hosts + "/report"}),
            "403");
  EXPECT_EQ(code({"-X", "POST", "-d", "status=ok", "-H", "Authorization: Bearer " + token + "x",
                  hosts + "/report"}),
            "403");
  EXPECT_EQ(code({"-X", "POST", "--data-binary", "not a tarball " + token, "-H", bearer,
                  hosts + "/state"}),
            "400");
  EXPECT_EQ(code({"--interface", "127.0.0.3", host + "/boot.cfg"}), "403");
  EXPECT_EQ(code({absl::StrCat(stack.http_url(), "/boot/", kOtherMacDashed,
                               "/state.tgz?token=", other_token)}),
            "403");
  // The birth report went through, so the logs hold the run's events.
  ASSERT_THAT(stack.Admin({"host", "--mac", kMac}).out, HasSubstr("active:     esxi@1 (valid)"));

  for (const std::string& log : {stack.boot_log_path(), stack.store_log_path()}) {
    auto text = ReadFile(log);
    ASSERT_TRUE(text.ok()) << log;
    ASSERT_FALSE(text->empty()) << log;
    EXPECT_THAT(*text, Not(HasSubstr(token))) << log;
    EXPECT_THAT(*text, Not(HasSubstr(other_token))) << log;
    EXPECT_THAT(*text, Not(HasSubstr(admin_token))) << log;
  }
}

}  // namespace
}  // namespace midwife::bootserver
