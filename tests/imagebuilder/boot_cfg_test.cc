#include "imagebuilder/boot_cfg.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

BootCfg ParseOrDie(std::string_view text) {
  absl::StatusOr<BootCfg> cfg = ParseBootCfg(text);
  EXPECT_TRUE(cfg.ok()) << cfg.status() << "\n" << text;
  return cfg.ok() ? *cfg : BootCfg{};
}

TEST(BootCfgParse, ReadsEveryKnownKey) {
  const BootCfg cfg = ParseOrDie(
      "bootstate=1\ntitle=Loading ESXi\ntimeout=7\nprefix=/esxi\nkernel=/b.b00\n"
      "kernelopt=runweasel cdromBoot\nmodules=/k.b00 --- /s.v00\n"
      "build=8.0.2-0.0.22380479\nupdated=3\ncrypto=/crypto.gz\n");
  EXPECT_EQ(cfg.bootstate, 1);
  EXPECT_EQ(cfg.title, "Loading ESXi");
  EXPECT_EQ(cfg.timeout, 7);
  EXPECT_EQ(cfg.prefix, "/esxi");
  EXPECT_EQ(cfg.kernel, "/b.b00");
  EXPECT_EQ(cfg.kernel_options, "");
  EXPECT_EQ(cfg.kernelopt, "runweasel cdromBoot");
  EXPECT_THAT(cfg.modules, ElementsAre(BootModule{"/k.b00", ""}, BootModule{"/s.v00", ""}));
  EXPECT_EQ(cfg.build, "8.0.2-0.0.22380479");
  EXPECT_EQ(cfg.updated, 3);
  EXPECT_THAT(cfg.loader_options, ElementsAre(Pair("crypto", "/crypto.gz")));
  EXPECT_TRUE(cfg.unknown.empty());
}

TEST(BootCfgParse, FoldsWhiteSpaceAndTrimsEveryLine) {
  const struct {
    std::string_view line;
    std::string_view title;
  } kCases[] = {
      {"title=Loading ESXi", "Loading ESXi"},
      {"title=  Loading \t  ESXi   ", "Loading ESXi"},
      {"\t  title=Loading ESXi", "Loading ESXi"},
      {"title = Loading ESXi", "Loading ESXi"},
      {"title\t=\tLoading ESXi", "Loading ESXi"},
      {"title=Loading ESXi\r", "Loading ESXi"},
      {"title=Loading ESXi \r", "Loading ESXi"},
      {"title=a=b", "a=b"},  // only the first '=' splits
      {"title= = x", "= x"},
      {"title=", ""},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.line);
    EXPECT_EQ(ParseOrDie(c.line).title, c.title);
  }
}

TEST(BootCfgParse, ReadsCrlfFilesLikeLfFiles) {
  constexpr std::string_view kLf = "bootstate=0\nkernel=/b.b00\nmodules=/k.b00 --- /s.v00\n";
  constexpr std::string_view kCrlf =
      "bootstate=0\r\nkernel=/b.b00\r\nmodules=/k.b00 --- /s.v00\r\n";
  EXPECT_EQ(ParseOrDie(kCrlf), ParseOrDie(kLf));
  EXPECT_EQ(ParseOrDie(kCrlf).modules.back().path, "/s.v00");
}

TEST(BootCfgParse, ReadsLastLineWithoutNewline) {
  EXPECT_EQ(ParseOrDie("title=x\nkernel=/b.b00").kernel, "/b.b00");
}

TEST(BootCfgParse, IgnoresBlankAndCommentLines) {
  const BootCfg cfg = ParseOrDie(
      "\n   \n\t\r\n# kernel=/commented.b00\n   #kernel=/indented.b00\nkernel=/b.b00\n#\n");
  EXPECT_EQ(cfg.kernel, "/b.b00");
  EXPECT_EQ(ParseOrDie("# only a comment\n\n"), BootCfg{});
  EXPECT_EQ(ParseOrDie(""), BootCfg{});
}

TEST(BootCfgParse, KeepsHashInsideValueAsData) {
  EXPECT_EQ(ParseOrDie("kernelopt=a # b").kernelopt, "a # b");
}

TEST(BootCfgParse, MatchesKeysIgnoringCase) {
  for (std::string_view key : {"kernel", "KERNEL", "Kernel", "kErNeL"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(ParseOrDie(std::string(key) + "=/b.b00").kernel, "/b.b00");
  }
  EXPECT_EQ(ParseOrDie("BOOTSTATE=2").bootstate, 2);
  EXPECT_THAT(ParseOrDie("NoBootIf=1").loader_options, ElementsAre(Pair("nobootif", "1")));
}

TEST(BootCfgParse, LastValueOfRepeatedKeyWins) {
  const BootCfg cfg = ParseOrDie(
      "kernel=/old.b00\ntimeout=3\nmodules=/a.b00 --- /b.b00\nnobootif=0\nKERNEL=/new.b00\n"
      "timeout=9\nmodules=/c.b00\nNOBOOTIF=1\n");
  EXPECT_EQ(cfg.kernel, "/new.b00");
  EXPECT_EQ(cfg.timeout, 9);
  EXPECT_THAT(cfg.modules, ElementsAre(BootModule{"/c.b00", ""}));  // replaced, not appended
  EXPECT_THAT(cfg.loader_options, ElementsAre(Pair("nobootif", "1")));
}

TEST(BootCfgParse, KeepsUnknownKeysInFirstSeenOrderWithLastValue) {
  const BootCfg cfg =
      ParseOrDie("zeta=1\nkernel=/b.b00\nAlpha=2\nmiddle=a b = c\nalpha=3\nZETA=4\n");
  EXPECT_THAT(cfg.unknown,
              ElementsAre(Pair("zeta", "4"), Pair("Alpha", "3"), Pair("middle", "a b = c")));
}

TEST(BootCfgParse, SplitsKernelPathFromTrailingText) {
  const BootCfg cfg = ParseOrDie("kernel=/tboot.b00  noquirks   x=1");
  EXPECT_EQ(cfg.kernel, "/tboot.b00");
  EXPECT_EQ(cfg.kernel_options, "noquirks x=1");
}

TEST(BootCfgParse, ReadsEmptyStringsAsUnsetAndEmptyIntegersAsZero) {
  const BootCfg cfg = ParseOrDie("prefix=\nbuild=\ntimeout=\nbootstate=\ntftpblksize=\n");
  EXPECT_EQ(cfg.prefix, "");
  EXPECT_EQ(cfg.build, "");
  EXPECT_EQ(cfg.timeout, 0);
  EXPECT_EQ(cfg.bootstate, 0);
  EXPECT_THAT(cfg.loader_options, ElementsAre(Pair("tftpblksize", "0")));
}

TEST(BootCfgParse, StoresLoaderOptionsLowerCaseInCanonicalOrder) {
  const BootCfg cfg = ParseOrDie(
      "ErrTimeout=-1\nacpitables=/a.aml --- /b.aml\nNOBOOTIF=1\ntftpblksize=08192\ncrypto=/c.gz\n");
  EXPECT_THAT(
      cfg.loader_options,
      ElementsAre(Pair("nobootif", "1"), Pair("crypto", "/c.gz"), Pair("tftpblksize", "8192"),
                  Pair("acpitables", "/a.aml --- /b.aml"), Pair("errtimeout", "-1")));
  EXPECT_EQ(FindLoaderOption(cfg, "tftpblksize"), "8192");
  EXPECT_EQ(FindLoaderOption(cfg, "norts"), std::nullopt);
}

TEST(BootCfgParse, AcceptsIntegersAtTheEdgesOfTheirRanges) {
  for (std::string_view line :
       {"bootstate=0", "bootstate=4", "timeout=0", "timeout=2147483647", "updated=0",
        "tftpblksize=0", "tftpblksize=512", "tftpblksize=65464", "errtimeout=-1", "errtimeout=0",
        "errtimeout=-2147483648", "runtimewdtimeout=0", "skip=1", "norts=0"}) {
    SCOPED_TRACE(line);
    EXPECT_TRUE(ParseBootCfg(line).ok()) << ParseBootCfg(line).status();
  }
}

struct ErrorCase {
  std::string name;
  std::string text;
  std::string message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class BootCfgParseError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(BootCfgParseError, IsInvalidArgumentNamingLineAndValue) {
  const absl::StatusOr<BootCfg> cfg = ParseBootCfg(GetParam().text);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(cfg.status().message()), GetParam().message);
}

// Six lines before the bad one, so that every message must count lines.
constexpr std::string_view kSixLines = "# header\n\ntitle=x\n  # indented\nkernel=/b.b00\n\n";

INSTANTIATE_TEST_SUITE_P(
    Table, BootCfgParseError,
    ::testing::Values(
        ErrorCase{"RejectsBootstateOutOfRangeNamingLine", std::string(kSixLines) + "bootstate=9",
                  "boot.cfg line 7: bootstate must be 0-4, got 9"},
        ErrorCase{"RejectsNegativeBootstate", "bootstate=-1",
                  "boot.cfg line 1: bootstate must be 0-4, got -1"},
        ErrorCase{"RejectsWordAsBootstate", "bootstate=zero",
                  "boot.cfg line 1: bootstate must be 0-4, got \"zero\""},
        ErrorCase{"RejectsNegativeTimeout", std::string(kSixLines) + "timeout=-5",
                  "boot.cfg line 7: timeout must be 0-2147483647, got -5"},
        ErrorCase{"RejectsTimeoutWithUnit", "timeout=5s",
                  "boot.cfg line 1: timeout must be 0-2147483647, got \"5s\""},
        ErrorCase{"RejectsTimeoutWithPlusSign", "timeout=+5",
                  "boot.cfg line 1: timeout must be 0-2147483647, got \"+5\""},
        ErrorCase{"RejectsTimeoutOverflowingInt", "timeout=99999999999",
                  "boot.cfg line 1: timeout must be 0-2147483647, got 99999999999"},
        ErrorCase{"RejectsNegativeUpdated", "\n\nupdated=-2",
                  "boot.cfg line 3: updated must be 0-2147483647, got -2"},
        ErrorCase{"RejectsTftpBlockSizeBelowUefiMinimum", "tftpblksize=511",
                  "boot.cfg line 1: tftpblksize must be 0 or 512-65464, got 511"},
        ErrorCase{"RejectsTftpBlockSizeAboveRfc2348Maximum", "tftpblksize=65465",
                  "boot.cfg line 1: tftpblksize must be 0 or 512-65464, got 65465"},
        ErrorCase{"RejectsNegativeWatchdogTimeout", "x=1\nruntimewdtimeout=-1",
                  "boot.cfg line 2: runtimewdtimeout must be 0-2147483647, got -1"},
        ErrorCase{"RejectsWordAsErrTimeout", "errtimeout=never",
                  "boot.cfg line 1: errtimeout must be an integer, got \"never\""},
        ErrorCase{"RejectsFlagOtherThanZeroOrOne", "nobootif=2",
                  "boot.cfg line 1: nobootif must be 0 or 1, got 2"},
        ErrorCase{"RejectsWordAsFlag", "NoQuirks=yes",
                  "boot.cfg line 1: noquirks must be 0 or 1, got \"yes\""},
        ErrorCase{"RejectsLineWithoutEquals", "bootstate=0\nkernel /b.b00\n",
                  "boot.cfg line 2: expected key=value, got \"kernel /b.b00\""},
        ErrorCase{"RejectsEmptyKey", "title=x\n = /b.b00", "boot.cfg line 2: no key before '='"},
        ErrorCase{"RejectsAbbreviationOfKernel", "kern=/b.b00",
                  "boot.cfg line 1: key \"kern\" would be read by the loader as \"kernel\""},
        ErrorCase{"RejectsAbbreviationOfBootstate", "title=x\nBoot=1",
                  "boot.cfg line 2: key \"boot\" would be read by the loader as \"bootstate\""},
        ErrorCase{"CountsCrlfLines", "title=x\r\n\r\nbootstate=5\r\n",
                  "boot.cfg line 3: bootstate must be 0-4, got 5"},
        // mboot stops at the first bad line, even if a later one would win.
        ErrorCase{"RejectsBadValueEvenWhenOverriddenLater", "timeout=x\ntimeout=5",
                  "boot.cfg line 1: timeout must be 0-2147483647, got \"x\""},
        ErrorCase{"EscapesControlBytesInMessage", "timeout=\x01",
                  "boot.cfg line 1: timeout must be 0-2147483647, got \"\\x01\""}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(BootCfgParse, RejectsTextLargerThanTheLimit) {
  const std::string text(kMaxBootCfgBytes + 1, '#');
  const absl::StatusOr<BootCfg> cfg = ParseBootCfg(text);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(cfg.status().message(), "more than the limit"));
}

TEST(BootCfgRender, WritesKeysInCanonicalOrder) {
  const BootCfg cfg = ParseOrDie(
      "vendor=x\nerrtimeout=3\nupdated=2\nbuild=7.0.3\nmodules=/k.b00 ks=usb --- /s.v00\n"
      "kernelopt=a b\nkernel=/b.b00 extra\nprefix=/p\ntimeout=5\nnobootif=1\ntitle=T\n"
      "bootstate=0\n");
  EXPECT_EQ(RenderBootCfg(cfg),
            "bootstate=0\ntitle=T\ntimeout=5\nprefix=/p\nkernel=/b.b00 extra\nkernelopt=a b\n"
            "modules=/k.b00 ks=usb --- /s.v00\nbuild=7.0.3\nupdated=2\nnobootif=1\n"
            "errtimeout=3\nvendor=x\n");
}

TEST(BootCfgRender, LeavesOutUnsetFields) {
  EXPECT_EQ(RenderBootCfg(BootCfg{}), "");
  BootCfg cfg;
  cfg.kernel = "/b.b00";
  EXPECT_EQ(RenderBootCfg(cfg), "kernel=/b.b00\n");
}

TEST(BootCfgRender, PutsBootstateFirstWithinSafebootWindow) {
  BootCfg cfg;
  cfg.title = std::string(600, 't');
  cfg.unknown = {{"aaa", std::string(600, 'a')}};
  cfg.bootstate = 3;
  const std::string text = RenderBootCfg(cfg);
  EXPECT_TRUE(absl::StartsWith(text, "bootstate=3\n"));
  EXPECT_LT(text.find("bootstate=3"), kBootstateWindowBytes);
}

TEST(BootCfgRender, FoldsLineBreaksSoNoValueStartsALineOfItsOwn) {
  BootCfg cfg;
  cfg.kernelopt = "a\nprefix=http://198.51.100.1/evil\r\nb";
  const std::string text = RenderBootCfg(cfg);
  EXPECT_EQ(text, "kernelopt=a prefix=http://198.51.100.1/evil b\n");
  const BootCfg back = ParseOrDie(text);
  EXPECT_EQ(back.prefix, "");
  EXPECT_EQ(back.kernelopt, "a prefix=http://198.51.100.1/evil b");
}

// The module list is written in place and folded only when it needs it: a
// hand-built module whose options hold a line break or a run of spaces
// must not start a line of its own or differ from the parsed form.
TEST(BootCfgRender, FoldsHandBuiltModuleOptionsInPlace) {
  BootCfg cfg;
  cfg.kernel = "/b.b00";
  cfg.modules = {{"/a.b00", "x\nprefix=http://198.51.100.1/evil"}, {"/c.b00", "  y \t z "}};
  cfg.build = "7.0";
  const std::string text = RenderBootCfg(cfg);
  EXPECT_EQ(text,
            "kernel=/b.b00\n"
            "modules=/a.b00 x prefix=http://198.51.100.1/evil --- /c.b00 y z\n"
            "build=7.0\n");
  const BootCfg back = ParseOrDie(text);
  EXPECT_EQ(back.prefix, "");
  ASSERT_EQ(back.modules.size(), 2u);
  EXPECT_EQ(back.modules[1].options, "y z");
}

TEST(BootCfgRender, SortsHandBuiltLoaderOptions) {
  BootCfg cfg;
  cfg.loader_options = {{"errtimeout", "5"}, {"NoBootIf", "1"}};
  EXPECT_EQ(RenderBootCfg(cfg), "nobootif=1\nerrtimeout=5\n");
}

TEST(BootCfgRender, RoundTripsParsedInputAndIsIdempotent) {
  const BootCfg cfg = ParseOrDie(
      " Kernel = /b.b00\r\nMODULES=/a.b00---/b.b00 opt  x --- c.v00\r\n#c\r\nfoo = bar\r\n"
      "tftpblksize=01468\r\nbootstate=2\r\n");
  const std::string text = RenderBootCfg(cfg);
  EXPECT_EQ(ParseOrDie(text), cfg);
  EXPECT_EQ(RenderBootCfg(ParseOrDie(text)), text);
}

TEST(BootCfgResolve, UsesPrefixOfCfgElseFolderOfBootCfg) {
  BootCfg cfg;
  EXPECT_EQ(ResolveModulePath(cfg, "k.b00", "/tftp/esxi"), "/tftp/esxi/k.b00");
  cfg.prefix = "http://192.0.2.10/esxi80u2";
  EXPECT_EQ(ResolveModulePath(cfg, "k.b00", "/tftp/esxi"), "http://192.0.2.10/esxi80u2/k.b00");
  EXPECT_EQ(ResolveModulePath(cfg, "/k.b00", "/tftp/esxi"), "/k.b00");
}

}  // namespace
}  // namespace midwife::imagebuilder
