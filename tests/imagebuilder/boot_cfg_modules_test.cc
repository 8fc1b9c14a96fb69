#include "imagebuilder/boot_cfg_modules.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ModuleList, SplitsOnSeparatorWithOrWithoutSpaces) {
  for (std::string_view value :
       {"/a.b00 --- /b.b00", "/a.b00---/b.b00", "/a.b00 ---/b.b00", "/a.b00--- /b.b00",
        "  /a.b00\t---\t/b.b00  ", "/a.b00   ---   /b.b00\r"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(ParseModuleList(value),
                ElementsAre(BootModule{"/a.b00", ""}, BootModule{"/b.b00", ""}));
  }
}

TEST(ModuleList, SkipsEmptyItems) {
  EXPECT_THAT(ParseModuleList("--- a.b00 --- --- b.b00 ---"),
              ElementsAre(BootModule{"a.b00", ""}, BootModule{"b.b00", ""}));
  EXPECT_THAT(ParseModuleList(""), IsEmpty());
  EXPECT_THAT(ParseModuleList("   "), IsEmpty());
  EXPECT_THAT(ParseModuleList("---"), IsEmpty());
  EXPECT_THAT(ParseModuleList("------"), IsEmpty());
}

TEST(ModuleList, KeepsPerModuleOptions) {
  EXPECT_THAT(ParseModuleList("/b.b00 ks=usb --- /useropts.gz"),
              ElementsAre(BootModule{"/b.b00", "ks=usb"}, BootModule{"/useropts.gz", ""}));
  EXPECT_THAT(ParseModuleList("/b.b00   ks=usb \t  debug---/k.b00 x"),
              ElementsAre(BootModule{"/b.b00", "ks=usb debug"}, BootModule{"/k.b00", "x"}));
}

TEST(ModuleList, SplitsOnSeparatorEvenInsideAWord) {
  // The loader looks for "---" anywhere; a name cannot hold it.
  EXPECT_THAT(ParseModuleList("a---b----c"),
              ElementsAre(BootModule{"a", ""}, BootModule{"b", ""}, BootModule{"-c", ""}));
}

TEST(ModuleList, RendersWithSpacedSeparatorAndRoundTrips) {
  const std::vector<BootModule> modules = {
      {"/b.b00", "ks=usb"}, {"k.b00", ""}, {"http://192.0.2.10/s.v00", "a=1 b=2"}, {"x-", "-y"}};
  const std::string text = RenderModuleList(modules);
  EXPECT_EQ(text, "/b.b00 ks=usb --- k.b00 --- http://192.0.2.10/s.v00 a=1 b=2 --- x- -y");
  EXPECT_EQ(ParseModuleList(text), modules);
  EXPECT_EQ(RenderModuleList({}), "");
}

TEST(BootPath, TellsAbsoluteFromRelative) {
  EXPECT_TRUE(IsAbsoluteBootPath("/b.b00"));
  EXPECT_TRUE(IsAbsoluteBootPath("\\EFI\\BOOT\\B.B00"));
  EXPECT_TRUE(IsAbsoluteBootPath("http://192.0.2.10/b.b00"));
  EXPECT_TRUE(IsAbsoluteBootPath("tftp://192.0.2.10/b.b00"));
  EXPECT_FALSE(IsAbsoluteBootPath("b.b00"));
  EXPECT_FALSE(IsAbsoluteBootPath("esxi/b.b00"));
  EXPECT_FALSE(IsAbsoluteBootPath(""));
}

TEST(BootPath, ResolvesLikeTheLoader) {
  const struct {
    std::string_view prefix, path, bootcfg_dir, want;
  } kCases[] = {
      // No prefix: the folder of boot.cfg.
      {"", "b.b00", "/tftp/esxi", "/tftp/esxi/b.b00"},
      {"", "b.b00", "/tftp/esxi/", "/tftp/esxi/b.b00"},
      {"", "b.b00", "", "b.b00"},
      {"", "sub//b.b00", "/d/", "/d/sub/b.b00"},
      // A prefix wins over the folder, relative or not, without doubled slash.
      {"esxi80", "b.b00", "/ignored", "esxi80/b.b00"},
      {"esxi80/", "b.b00", "/ignored", "esxi80/b.b00"},
      {"/esxi80//", "b.b00", "", "/esxi80/b.b00"},
      {"http://192.0.2.10/esxi80u2", "b.b00", "/x", "http://192.0.2.10/esxi80u2/b.b00"},
      {"http://192.0.2.10/esxi80u2/", "k.b00", "/x", "http://192.0.2.10/esxi80u2/k.b00"},
      {"tftp://192.0.2.10//esxi", "b.b00", "", "tftp://192.0.2.10/esxi/b.b00"},
      {"esx\\win", "b.b00", "", "esx/win/b.b00"},
      // Absolute paths ignore both.
      {"http://192.0.2.10/esxi80u2", "/b.b00", "/x", "/b.b00"},
      {"/prefix", "\\EFI\\BOOT\\B.B00", "/x", "/EFI/BOOT/B.B00"},
      {"/prefix", "http://198.51.100.7/other/b.b00", "/x", "http://198.51.100.7/other/b.b00"},
      {"", "//b.b00", "/x", "/b.b00"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(std::string(c.prefix) + " + " + std::string(c.path));
    EXPECT_EQ(ResolveBootPath(c.prefix, c.path, c.bootcfg_dir), c.want);
  }
}

TEST(ModuleName, MatchesIso9660NamesIgnoringCaseAndFolders) {
  const struct {
    std::string_view a, b;
    bool same;
  } kCases[] = {
      {"/b.b00", "B.B00", true},
      {"b.b00", "/B.B00;1", true},
      {"S.V00;2", "s.v00", true},
      {"\\EFI\\BOOT\\BOOTX64.EFI", "/efi/boot/bootx64.efi", true},
      {"/a/b.b00", "/c/B.B00", true},
      {"http://192.0.2.10/esxi/k.b00", "K.B00", true},
      {"/b.b00", "/b.b01", false},
      {"/b.b00", "/bb.b00", false},
      {"b.b00;x", "b.b00", false},  // not a version suffix
      {"", "", false},
      {"/dir/", "/other/", false},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(std::string(c.a) + " vs " + std::string(c.b));
    EXPECT_EQ(SameModuleName(c.a, c.b), c.same);
    EXPECT_EQ(SameModuleName(c.b, c.a), c.same);
  }
}

TEST(WhiteSpace, FoldsRunsAndTrimsEnds) {
  EXPECT_EQ(FoldWhiteSpace(" \t a  \r\n b\v\fc  "), "a b c");
  EXPECT_EQ(FoldWhiteSpace("   "), "");
  EXPECT_EQ(FoldWhiteSpace("abc"), "abc");
}

}  // namespace
}  // namespace midwife::imagebuilder
