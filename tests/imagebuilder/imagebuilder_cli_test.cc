// The real `imagebuilder` binary, run as an admin or a script would run it.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/imagebuilder/test_media.h"
#include "tests/support/child_process.h"

namespace midwife::imagebuilder {
namespace {

using ::midwife::imagebuilder::testing::EsxiInstallerFiles;
using ::midwife::imagebuilder::testing::Files;
using ::midwife::imagebuilder::testing::PseudoRandomBytes;
using ::midwife::imagebuilder::testing::WriteIso;
using ::midwife::testing::BinaryPath;
using ::midwife::testing::CommandResult;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(BinaryPath("imagebuilder")))
        << BinaryPath("imagebuilder") << " is missing; build the imagebuilder target";
    WriteIso(dir_.File("installer.iso"), EsxiInstallerFiles());
  }

  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("imagebuilder"));
    args.push_back("--repo");
    args.push_back(dir_.File("repo"));
    return RunCommand(args);
  }

  nlohmann::json RunJson(std::vector<std::string> args) {
    args.push_back("--json");
    const CommandResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << result.out;
    nlohmann::json json = nlohmann::json::parse(result.out, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << result.out;
    return json;
  }

  void ImportInstaller() {
    const CommandResult result =
        Run({"import", dir_.File("installer.iso"), "--name", "esxi", "--version", "8.0u2"});
    ASSERT_EQ(result.exit_code, 0) << result.out;
  }

  TempDir dir_;
};

TEST_F(CliTest, ImportsAnIsoAndListsItAsJson) {
  const CommandResult result =
      Run({"import", dir_.File("installer.iso"), "--name", "esxi", "--version", "8.0u2"});
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_THAT(result.out, StartsWith("imported esxi@8.0u2: 4 files"));
  EXPECT_THAT(result.out, Not(HasSubstr("\r")));  // no progress bar when stderr is no terminal

  const nlohmann::json list = RunJson({"list"});
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["ref"], "esxi@8.0u2");
  EXPECT_EQ(list[0]["kind"], "esxi");
  EXPECT_EQ(list[0]["modules"], 3);
  EXPECT_EQ(list[0]["total_bytes"], 6000 + 3000 + 5000 + 7000);
  EXPECT_THAT(list[0]["digest"].get<std::string>(), StartsWith("sha256:"));
}

TEST_F(CliTest, ImportingAgainSaysNothingWasWritten) {
  ImportInstaller();
  const nlohmann::json again =
      RunJson({"import", dir_.File("installer.iso"), "--name", "esxi", "--version", "8.0u2"});
  EXPECT_EQ(again["created"], false);
  EXPECT_EQ(again["blobs_written"], 0);
}

TEST_F(CliTest, ShowsAnImagesModulesAndSettings) {
  ImportInstaller();
  const nlohmann::json image = RunJson({"show", "esxi@8.0u2"});
  EXPECT_EQ(image["kernel"]["name"], "b.b00");
  EXPECT_EQ(image["kernelopt"], "runweasel cdromBoot");
  ASSERT_EQ(image["modules"].size(), 3u);
  EXPECT_EQ(image["modules"][1]["name"], "k.b00");
  EXPECT_EQ(image["modules"][1]["options"], "ks=usb");
  EXPECT_EQ(image["parent"], nullptr);

  const CommandResult text = Run({"show", "esxi@8.0u2"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("k.b00"));
  EXPECT_THAT(text.out, HasSubstr("ks=usb"));
}

TEST_F(CliTest, AFailingCommandPrintsOneLineAndExitsNonZero) {
  ImportInstaller();
  const CommandResult result = Run({"show", "esxi@9.0"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.out, StartsWith("imagebuilder show: no image esxi@9.0 in "));
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1) << result.out;
}

TEST_F(CliTest, AnIsoMissingModulesFailsNamingThemAll) {
  Files files = EsxiInstallerFiles();
  files.erase("K.B00");
  files.erase("S.V00");
  WriteIso(dir_.File("broken.iso"), files);
  const CommandResult result =
      Run({"import", dir_.File("broken.iso"), "--name", "esxi", "--version", "1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("/k.b00, /s.v00"));
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1) << result.out;
}

TEST_F(CliTest, ComposesDiffsVerifiesAndCollectsGarbage) {
  ImportInstaller();
  std::ofstream(dir_.File("nic.v00"), std::ios::binary) << PseudoRandomBytes("nic", 3000);
  const nlohmann::json composed = RunJson(
      {"compose", "--from", "esxi@8.0u2", "--name", "esxi", "--version", "8.0u2-nic", "--add",
       dir_.File("nic.v00") + "@after:k.b00", "--append-kernelopt", "vmkLinuxDriver=1"});
  EXPECT_EQ(composed["blobs_written"], 1);
  EXPECT_EQ(composed["image"]["parent"]["ref"], "esxi@8.0u2");

  const nlohmann::json diff = RunJson({"diff", "esxi@8.0u2", "esxi@8.0u2-nic"});
  ASSERT_EQ(diff["added"].size(), 1u);
  EXPECT_EQ(diff["added"][0]["name"], "nic.v00");
  EXPECT_EQ(diff["settings"][0]["key"], "kernelopt");

  EXPECT_EQ(Run({"verify"}).exit_code, 0);
  const std::string nic_digest = diff["added"][0]["digest"];
  const std::string path = dir_.File("repo/blobs/sha256/" + nic_digest.substr(7));
  ::chmod(path.c_str(), 0644);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "tampered";
  const CommandResult verify = Run({"verify"});
  EXPECT_NE(verify.exit_code, 0);
  EXPECT_THAT(verify.out, HasSubstr(nic_digest + ": corrupt"));
  EXPECT_THAT(verify.out, HasSubstr("used by esxi@8.0u2-nic module nic.v00"));

  // With no state store to ask whether a host uses it, remove refuses...
  const CommandResult unchecked = Run({"remove", "esxi@8.0u2-nic", "--statestore-token-file", dir_.File("none")});
  EXPECT_NE(unchecked.exit_code, 0);
  EXPECT_THAT(unchecked.out, HasSubstr("cannot check host assignments"));
  // ...unless told to go ahead.
  EXPECT_EQ(Run({"remove", "esxi@8.0u2-nic", "--force"}).exit_code, 0);
  const nlohmann::json dry = RunJson({"gc", "--dry-run"});
  EXPECT_EQ(dry["removed_blobs"].size(), 3u);
  const nlohmann::json gc = RunJson({"gc"});
  EXPECT_EQ(gc["removed_blobs"].size(), 3u);
  EXPECT_EQ(Run({"verify"}).exit_code, 0);
}

}  // namespace
}  // namespace midwife::imagebuilder

namespace midwife::imagebuilder {
namespace {

TEST_F(CliTest, RendersAHostsBootCfgAndScriptDeterministically) {
  ImportInstaller();
  const std::vector<std::string> args = {"render", "--image", "esxi@8.0u2", "--mac", "00-50-56-AA-BB-01",
                                         "--server", "http://192.0.2.1:8080/", "--token", "mwh1-t"};
  const CommandResult first = Run(args);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_THAT(first.out, HasSubstr("bootstate=0\n"));
  EXPECT_THAT(first.out, HasSubstr("PBHOST=192.0.2.1:8080 MIDWIFE_TOKEN=mwh1-t"));
  EXPECT_THAT(first.out, HasSubstr("http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/state.tgz"));
  EXPECT_THAT(first.out, HasSubstr("#!ipxe"));
  EXPECT_EQ(Run(args).out, first.out);
  const CommandResult bad = Run({"render", "--image", "esxi@8.0u2", "--mac", "ff:ff:ff:ff:ff:ff", "--server", "http://x"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.out, HasSubstr("ff:ff:ff:ff:ff:ff"));
}

TEST_F(CliTest, StatePackIsDeterministicAndListsBack) {
  ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", dir_.File("host/etc/vmware")}).exit_code, 0);
  std::ofstream(dir_.File("host/etc/vmware/esx.conf")) << "/adv/Net/FollowHardwareMac = \"1\"\n";
  std::ofstream(dir_.File("host/etc/hosts")) << "127.0.0.1 localhost\n";
  const CommandResult a = Run({"state", "pack", dir_.File("host"), "--out", dir_.File("a.tgz")});
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(RunCommand({"/usr/bin/touch", "-d", "2001-01-01", dir_.File("host/etc/hosts")}).exit_code, 0);
  const CommandResult b = Run({"state", "pack", dir_.File("host"), "--out", dir_.File("b.tgz")});
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_EQ(a.out.substr(a.out.find("sha256")), b.out.substr(b.out.find("sha256")));
  const CommandResult list = Run({"state", "list", dir_.File("a.tgz")});
  EXPECT_THAT(list.out, HasSubstr("etc/vmware/esx.conf"));
  const CommandResult diff = Run({"state", "diff", dir_.File("a.tgz"), dir_.File("b.tgz")});
  EXPECT_EQ(diff.exit_code, 0);
  EXPECT_EQ(diff.out, "");
}

}  // namespace
}  // namespace midwife::imagebuilder
