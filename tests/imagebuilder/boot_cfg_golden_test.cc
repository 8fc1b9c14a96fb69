// Hand-written boot.cfg files in the shapes ESXi 4.1 to 8.0U2 installers and
// installed banks use (tests/imagebuilder/testdata), parsed and round-tripped.

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "imagebuilder/boot_cfg.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::string TestDataPath(std::string_view name) {
  // Not __FILE__: ccache's base dir makes that relative to the build folder.
  return (std::filesystem::path(MIDWIFE_SOURCE_DIR) / "tests/imagebuilder/testdata" / name).string();
}

std::string ReadTestData(std::string_view name) {
  absl::StatusOr<std::string> text = ReadFile(TestDataPath(name), 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

BootCfg ParseTestData(std::string_view name) {
  absl::StatusOr<BootCfg> cfg = ParseBootCfg(ReadTestData(name));
  EXPECT_TRUE(cfg.ok()) << name << ": " << cfg.status();
  return cfg.ok() ? *cfg : BootCfg{};
}

class GoldenFile : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenFile, RoundTripsThroughRender) {
  const BootCfg cfg = ParseTestData(GetParam());
  ASSERT_FALSE(cfg.kernel.empty());
  const std::string text = RenderBootCfg(cfg);
  absl::StatusOr<BootCfg> again = ParseBootCfg(text);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, cfg);
  EXPECT_EQ(RenderBootCfg(*again), text);
  if (cfg.bootstate) {
    EXPECT_TRUE(absl::StartsWith(text, "bootstate=")) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, GoldenFile,
                         ::testing::Values("esxi41_installer.cfg", "esxi55_installer.cfg",
                                           "esxi67_bootbank.cfg", "esxi80u2_installer.cfg",
                                           "esxi80u2_http_prefix.cfg", "crlf_odd_whitespace.cfg",
                                           "crlf_odd_whitespace.rendered.cfg"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           if (absl::StrContains(info.param, ".rendered")) name += "_rendered";
                           return name;
                         });

TEST(GoldenFiles, Esxi41InstallerHasRelativeGzipModulesAndNoBootstate) {
  const BootCfg cfg = ParseTestData("esxi41_installer.cfg");
  EXPECT_EQ(cfg.bootstate, std::nullopt);
  EXPECT_EQ(cfg.kernel, "tboot.b00");
  ASSERT_EQ(cfg.modules.size(), 6u);
  EXPECT_EQ(cfg.modules.front().path, "vmkboot.gz");
  EXPECT_EQ(cfg.modules.back().path, "install.vgz");
  EXPECT_EQ(ResolveModulePath(cfg, cfg.modules[2].path, "/cdrom"), "/cdrom/sys.vgz");
  EXPECT_TRUE(absl::StartsWith(RenderBootCfg(cfg), "title=ESXi 4.1 Installer\n"));
}

TEST(GoldenFiles, Esxi55InstallerPassesOptionsToFirstModule) {
  const BootCfg cfg = ParseTestData("esxi55_installer.cfg");
  EXPECT_EQ(cfg.kernel, "/tboot.b00");
  ASSERT_FALSE(cfg.modules.empty());
  EXPECT_EQ(cfg.modules[0], (BootModule{"/b.b00", "ks=usb"}));
  EXPECT_EQ(cfg.modules[1], (BootModule{"/useropts.gz", ""}));
  EXPECT_EQ(cfg.build, "");
  EXPECT_EQ(cfg.updated, 0);
}

TEST(GoldenFiles, Esxi67BankResolvesUnderItsOwnFolder) {
  const BootCfg cfg = ParseTestData("esxi67_bootbank.cfg");
  EXPECT_EQ(cfg.bootstate, 0);
  EXPECT_EQ(cfg.prefix, "");  // "prefix=" is present but empty
  EXPECT_EQ(cfg.kernelopt, "no-auto-partition");
  EXPECT_EQ(cfg.build, "6.7.0-3.139.17700523");
  EXPECT_EQ(cfg.updated, 2);
  EXPECT_EQ(ResolveModulePath(cfg, cfg.kernel, "/bootbank"), "/bootbank/b.b00");
  EXPECT_EQ(cfg.modules.back().path, "state.tgz");
}

TEST(GoldenFiles, Esxi80u2InstallerHasOverAHundredModules) {
  const BootCfg cfg = ParseTestData("esxi80u2_installer.cfg");
  EXPECT_GT(cfg.modules.size(), 100u);
  EXPECT_EQ(cfg.kernelopt, "runweasel cdromBoot");
  EXPECT_EQ(cfg.build, "8.0.2-0.0.22380479");
  for (const BootModule& module : cfg.modules) {
    EXPECT_TRUE(absl::StartsWith(module.path, "/")) << module.path;
    EXPECT_EQ(module.options, "");
  }
  EXPECT_EQ(cfg.modules.front().path, "/jumpstrt.gz");
  EXPECT_EQ(cfg.modules.back().path, "/imgpayld.tgz");
  EXPECT_TRUE(SameModuleName(cfg.kernel, "B.B00;1"));
  EXPECT_EQ(ResolveModulePath(cfg, cfg.modules[3].path, "/mnt/iso"), "/k.b00");
}

TEST(GoldenFiles, HttpPrefixResolvesModulesToUrls) {
  const BootCfg cfg = ParseTestData("esxi80u2_http_prefix.cfg");
  EXPECT_EQ(cfg.prefix, "http://192.0.2.10/esxi80u2");
  EXPECT_EQ(cfg.kernelopt, "runweasel ks=http://192.0.2.10/ks/esx01.cfg");
  EXPECT_GT(cfg.modules.size(), 100u);
  EXPECT_EQ(ResolveModulePath(cfg, cfg.kernel, "/srv/tftp"), "http://192.0.2.10/esxi80u2/b.b00");
  EXPECT_EQ(ResolveModulePath(cfg, cfg.modules.front().path, "/srv/tftp"),
            "http://192.0.2.10/esxi80u2/jumpstrt.gz");
  EXPECT_THAT(cfg.loader_options, ElementsAre(Pair("nobootif", "1"), Pair("tftpblksize", "8192")));
  // Same image as the ISO's own boot.cfg, names made relative.
  const BootCfg iso = ParseTestData("esxi80u2_installer.cfg");
  ASSERT_EQ(cfg.modules.size(), iso.modules.size());
  for (size_t i = 0; i < cfg.modules.size(); ++i) {
    EXPECT_TRUE(SameModuleName(cfg.modules[i].path, iso.modules[i].path)) << i;
  }
}

TEST(GoldenFiles, CrlfFileWithOddWhiteSpaceRendersToCanonicalGolden) {
  const std::string raw = ReadTestData("crlf_odd_whitespace.cfg");
  ASSERT_TRUE(absl::StrContains(raw, "\r\n")) << "testdata lost its CRLF line ends";
  const BootCfg cfg = ParseTestData("crlf_odd_whitespace.cfg");
  EXPECT_EQ(cfg.title, "Loading ESXi installer");
  EXPECT_EQ(cfg.timeout, 10);
  EXPECT_EQ(cfg.kernel, "/B.B00");
  EXPECT_EQ(cfg.modules.size(), 5u);
  EXPECT_THAT(cfg.unknown,
              ElementsAre(Pair("BuildLabel", "lab 8"), Pair("X-Midwife-Note", "kept as is")));
  EXPECT_EQ(RenderBootCfg(cfg), ReadTestData("crlf_odd_whitespace.rendered.cfg"));
}

}  // namespace
}  // namespace midwife::imagebuilder
