// A boot is bound to the address that started it: another machine on the
// segment naming a host's MAC gets neither its state nor its boot.cfg (which
// carries the host token), inside the host's boot window or after it.
// 127.0.0.0/8 is all local on Linux, so curl --interface 127.0.0.N is a
// second machine as far as the boot server can tell.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "tests/bootserver/boot_stack.h"
#include "tests/support/tar_builder.h"

namespace midwife::bootserver {
namespace {

using ::midwife::testing::BootStack;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMac[] = "00:50:56:aa:bb:07";
constexpr char kMacDashed[] = "00-50-56-aa-bb-07";
constexpr char kHost[] = "127.0.0.2";       // the host booting
constexpr char kNeighbour[] = "127.0.0.3";  // another machine on its segment

class BootWindowTest : public ::testing::Test {
 protected:
  // A host assigned an image, with a state stored, and a boot server that
  // keeps boots for `window_seconds`.
  void StartStack(int window_seconds) {
    ASSERT_TRUE(stack_.StartStore());
    ASSERT_EQ(stack_.MakeImage("esxi", "1", "module bytes"), "");
    ASSERT_TRUE(stack_.StartBootServer({"--boot-window", std::to_string(window_seconds)}));
    ASSERT_EQ(stack_.Admin({"assign", "--mac", kMac, "--image", "esxi@1"}).exit_code, 0);
    token_ = stack_.HostToken(kMac);
    ASSERT_FALSE(token_.empty());
    ASSERT_TRUE(WriteFileAtomically(stack_.tmp().File("state.tgz"), state_).ok());
    // Uploads carry the host token and are not bound to a boot.
    ASSERT_EQ(Code(kHost, "/hosts/" + std::string(kMacDashed) + "/state",
                   {"-X", "POST", "--data-binary", "@" + stack_.tmp().File("state.tgz"), "-H",
                    "Authorization: Bearer " + token_}),
              "200");
  }

  // GET (or what `extra` says) of `path` from `from`: body and status code.
  midwife::testing::CommandResult Fetch(const std::string& from, const std::string& path,
                                        std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--interface", from, "-w", "\n%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(stack_.http_url() + path);
    return BootStack::Curl(args);
  }
  std::string Code(const std::string& from, const std::string& path,
                   std::vector<std::string> extra = {}) {
    const std::string out = Fetch(from, path, std::move(extra)).out;
    return out.substr(out.rfind('\n') + 1);
  }
  std::string Body(const std::string& from, const std::string& path) {
    const std::string out = Fetch(from, path).out;
    return out.substr(0, out.rfind('\n'));
  }
  std::string Script(const std::string& from) {
    return Body(from, absl::StrCat("/boot/", kMacDashed, "/boot.ipxe?platform=pcbios"));
  }
  // boot.cfg over TFTP from `from` (curl binds TFTP to an address too).
  midwife::testing::CommandResult TftpBootCfg(const std::string& from) {
    return BootStack::Curl(
        {"--interface", from, "--tftp-no-options",
         absl::StrCat("tftp://127.0.0.1:", stack_.tftp_port(), "/", kMacDashed, "/boot.cfg")});
  }

  static std::string Path(const char* file) {
    return absl::StrCat("/boot/", kMacDashed, "/", file);
  }

  BootStack stack_;
  std::string token_;
  const std::string state_ = midwife::testing::MakeEsxiStateTgz({{"etc/shadow", "root:$6$x\n"}});
};

TEST_F(BootWindowTest, StateAndBootCfgGoOnlyToTheAddressThatStartedTheBoot) {
  StartStack(600);
  // No boot under way: naming the MAC is not enough.
  for (const char* file : {"state.tgz", "state.cpio.gz", "boot.cfg"}) {
    EXPECT_EQ(Code(kHost, Path(file)), "403") << file;
  }

  EXPECT_THAT(Script(kHost), HasSubstr("/state.tgz"));  // the host's boot starts
  // Its neighbour is refused everything that carries a secret, with a reason.
  for (const char* file : {"state.tgz", "state.cpio.gz", "boot.cfg"}) {
    auto refused = Fetch(kNeighbour, Path(file));
    EXPECT_THAT(refused.out, HasSubstr("403")) << file;
    EXPECT_THAT(refused.out, HasSubstr("another address")) << file;
    EXPECT_THAT(refused.out, Not(HasSubstr(token_))) << file;
  }
  EXPECT_THAT(Fetch(kNeighbour, Path("state.tgz"), {"-I"}).out, HasSubstr("403"));
  auto tftp_refused = TftpBootCfg(kNeighbour);
  EXPECT_NE(tftp_refused.exit_code, 0);
  EXPECT_THAT(tftp_refused.out, Not(HasSubstr(token_)));

  // The host itself gets them all, over HTTP and TFTP.
  EXPECT_EQ(Body(kHost, Path("state.tgz")), state_);
  EXPECT_EQ(Code(kHost, Path("state.cpio.gz")), "200");
  EXPECT_THAT(Body(kHost, Path("boot.cfg")), HasSubstr(token_));
  auto tftp = TftpBootCfg(kHost);
  EXPECT_EQ(tftp.exit_code, 0) << tftp.out;
  EXPECT_THAT(tftp.out, HasSubstr(token_));
  // Refusals show on /metrics.
  EXPECT_THAT(Body(kNeighbour, "/metrics"),
              HasSubstr("midwife_http_requests_total{route=\"state.tgz\",code=\"403\"}"));
}

TEST_F(BootWindowTest, ANewBootFromAnotherAddressMovesTheBinding) {
  StartStack(600);
  Script(kHost);
  ASSERT_EQ(Code(kHost, Path("state.tgz")), "200");
  // Whoever starts a boot of the MAC is the one served: PXE cannot tell a
  // host from a machine claiming its MAC, but the store records this boot
  // and its address in the host's history.
  Script(kNeighbour);
  EXPECT_EQ(Code(kNeighbour, Path("state.tgz")), "200");
  EXPECT_EQ(Code(kHost, Path("state.tgz")), "403");
  EXPECT_THAT(stack_.Admin({"events", "--mac", kMac}).out, HasSubstr(kNeighbour));
}

TEST_F(BootWindowTest, StateAndBootCfgAreRefusedOnceTheWindowIsOver) {
  StartStack(1);
  EXPECT_THAT(Script(kHost), HasSubstr("/state.tgz"));
  EXPECT_EQ(Code(kHost, Path("state.tgz")), "200");
  // Waiting out the one-second window is the behaviour under test.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (const char* file : {"state.tgz", "state.cpio.gz", "boot.cfg"}) {
    auto refused = Fetch(kHost, Path(file));
    EXPECT_THAT(refused.out, HasSubstr("403")) << file;
    EXPECT_THAT(refused.out, HasSubstr("boot window")) << file;
  }
  // The host's next boot opens a new window.
  Script(kHost);
  EXPECT_EQ(Body(kHost, Path("state.tgz")), state_);
}

}  // namespace
}  // namespace midwife::bootserver
