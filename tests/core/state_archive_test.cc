#include "core/state_archive.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/tar_builder.h"

namespace midwife {
namespace {

using ::midwife::testing::Gzip;
using ::midwife::testing::MakeConfigBundle;
using ::midwife::testing::MakeEncryptedEsxiStateTgz;
using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::MakeLocalTgz;
using ::midwife::testing::MakeTgz;
using ::midwife::testing::TarBuilder;
using ::testing::HasSubstr;

std::string Tar(TarBuilder& builder) { return builder.Finish(); }

// state.tgz whose local.tgz is `local` (any bytes).
std::string StateWithLocal(const std::string& local) { return MakeTgz({{"local.tgz", local}}); }

struct BadCase {
  std::string name;
  std::function<std::string()> make;
  std::optional<StateKind> expected;
  std::vector<std::string> message_has;  // Layer, entry and reason.
  StateArchiveLimits limits = {};
};

class RefusesBadArchive : public ::testing::TestWithParam<BadCase> {};

TEST_P(RefusesBadArchive, WithInvalidArgumentNamingLayerEntryAndReason) {
  const BadCase& c = GetParam();
  auto info = ValidateStateArchive(c.make(), c.expected, c.limits);
  ASSERT_FALSE(info.ok()) << "accepted, kind " << StateKindName(info->kind);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
  for (const std::string& part : c.message_has) {
    EXPECT_THAT(info.status().message(), HasSubstr(part));
  }
}

std::vector<BadCase> BadCases() {
  const std::string good = MakeEsxiStateTgz({{"etc/hosts", "127.0.0.1 localhost\n"}});
  return {
      // Names.
      {"AbsolutePath",
       [] {
         return MakeTgz({{"/etc/passwd", "root::0:0::/:/bin/sh\n"}});
       },
       std::nullopt,
       {"archive: entry \"/etc/passwd\": path is absolute"}},
      {"DotDotComponent",
       [] {
         return MakeTgz({{"a/../../x", "x"}});
       },
       std::nullopt,
       {"archive: entry \"a/../../x\": path has a \"..\" component"}},
      {"DotDotInLocalTgz",
       [] {
         return MakeEsxiStateTgz({{"etc/hosts", "h"}, {"etc/../../x", "x"}});
       },
       std::nullopt,
       {"state.tgz/local.tgz: entry \"etc/../../x\": path has a \"..\" component"}},
      {"DotDotAfterDotSlash",
       [] {
         return MakeTgz({{"./etc/..", "x"}});
       },
       StateKind::kPlainTarball,
       {"tarball: entry \"./etc/..\"", "\"..\" component"}},
      {"OverlongPath",
       [] {
         return MakeTgz({{std::string(5000, 'a'), "x"}});
       },
       std::nullopt,
       {"entry \"aaaa", "longer than 4096 bytes"}},
      {"RootEntryThatIsAFile",
       [] {
         return MakeTgz({{".", "x"}});
       },
       std::nullopt,
       {"entry \".\"", "root of the tree can only be a folder"}},
      // Entry types.
      {"CharacterDevice",
       [] { return Tar(TarBuilder().File("a", "a").CharDevice("dev/null")); },
       std::nullopt,
       {"entry \"dev/null\": is a character device"}},
      {"BlockDevice",
       [] { return Tar(TarBuilder().BlockDevice("dev/sda")); },
       std::nullopt,
       {"entry \"dev/sda\": is a block device"}},
      {"Fifo",
       [] { return Tar(TarBuilder().Fifo("run/pipe")); },
       std::nullopt,
       {"entry \"run/pipe\": is a FIFO"}},
      // Symlinks.
      {"SymlinkToAbsolutePath",
       [] { return Tar(TarBuilder().Symlink("etc/l", "/etc/shadow")); },
       std::nullopt,
       {"entry \"etc/l\": symlink target \"/etc/shadow\" is absolute"}},
      {"SymlinkEscapingFromItsFolder",
       [] { return Tar(TarBuilder().Symlink("a/l", "../../x")); },
       std::nullopt,
       {"entry \"a/l\": symlink target \"../../x\" escapes the tree"}},
      {"SymlinkEscapingThroughAnotherSymlink",
       [] { return Tar(TarBuilder().Dir("d").Symlink("d/up", "..").Symlink("x", "d/up/..")); },
       std::nullopt,
       {"entry \"x\": symlink target \"d/up/..\" leads out of the tree"}},
      {"EntryWrittenThroughSymlink",
       [] { return Tar(TarBuilder().Symlink("l", "d").File("l/x", "x")); },
       std::nullopt,
       {"entry \"l/x\": path goes through the symlink \"l\""}},
      {"SymlinkLoop",
       [] { return Tar(TarBuilder().Symlink("a", "b").Symlink("b", "a")); },
       std::nullopt,
       {"entry \"a\"", "symlink loop"}},
      {"EmptySymlinkTarget",
       [] { return Tar(TarBuilder().Symlink("l", "")); },
       std::nullopt,
       {"entry \"l\": symlink target is empty"}},
      // Hard links.
      {"HardlinkToAbsolutePath",
       [] { return Tar(TarBuilder().File("a", "a").Hardlink("h", "/etc/shadow")); },
       std::nullopt,
       {"entry \"h\": hard link target \"/etc/shadow\" is absolute"}},
      {"HardlinkWithDotDot",
       [] { return Tar(TarBuilder().File("a", "a").Hardlink("h", "x/../a")); },
       std::nullopt,
       {"entry \"h\": hard link target \"x/../a\" has a \"..\" component"}},
      // local.tgz holds etc/ only.
      {"LocalTgzEntryOutsideEtc",
       [] {
         return MakeEsxiStateTgz({{"etc/hosts", "h"}, {"usr/bin/x", "x"}});
       },
       StateKind::kEsxiState,
       {"state.tgz/local.tgz: entry \"usr/bin/x\": outside etc/"}},
      {"LocalTgzHardlinkOutsideEtc",
       [] {
         return StateWithLocal(Tar(TarBuilder().File("etc/a", "a").Hardlink("etc/h", "bin/sh")));
       },
       std::nullopt,
       {"entry \"etc/h\": hard link target \"bin/sh\" is outside etc/"}},
      // Not a whole gzip'd tar.
      {"NotGzip",
       [] { return Tar(TarBuilder(TarBuilder::Compression::kNone).File("a", "a")); },
       std::nullopt,
       {"archive: not gzip-compressed"}},
      {"EmptyInput",
       [] { return std::string(); },
       StateKind::kEsxiState,
       {"state.tgz: not gzip-compressed"}},
      {"GzipButNotTar",
       [] { return Gzip(std::string(2000, 'x')); },
       std::nullopt,
       {"archive: not a tar archive"}},
      {"TruncatedInTheMiddle",
       [good] { return good.substr(0, good.size() / 2); },
       std::nullopt,
       {"archive: ", "truncated gzip stream"}},
      {"TruncatedTrailer",
       [good] { return good.substr(0, good.size() - 3); },
       std::nullopt,
       {"archive: ", "truncated gzip stream"}},
      {"CorruptChecksum",
       [good] {
         std::string bad = good;
         bad[bad.size() - 6] ^= 0x55;  // Inside the CRC-32 of the trailer.
         return bad;
       },
       std::nullopt,
       {"archive: ", "corrupt gzip stream"}},
      {"TrailingGarbage",
       [good] { return good + "garbage"; },
       std::nullopt,
       {"archive: ", "7 bytes of trailing data after the gzip stream"}},
      {"TarCutShortInsideGzip",
       [] {
         std::string tar =
             Tar(TarBuilder(TarBuilder::Compression::kNone).File("a", std::string(3000, 'a')));
         return Gzip(tar.substr(0, 1500));
       },
       std::nullopt,
       {"archive: ", "entry \"a\"", "damaged or truncated tar archive"}},
      {"EmptyArchive",
       [] { return TarBuilder().Finish(); },
       std::nullopt,
       {"archive: empty archive"}},
      {"EmptyLocalTgz",
       [] { return StateWithLocal(TarBuilder().Finish()); },
       std::nullopt,
       {"state.tgz/local.tgz: empty archive"}},
      {"LocalTgzNotGzip",
       [] { return StateWithLocal("just text"); },
       std::nullopt,
       {"state.tgz/local.tgz: not gzip-compressed"}},
      // Missing members.
      {"StateWithoutLocalTgz",
       [] {
         return MakeTgz({{"etc/hosts", "h"}});
       },
       StateKind::kEsxiState,
       {"state.tgz: missing local.tgz"}},
      {"EncryptedStateWithoutEncryptionInfo",
       [] {
         return MakeTgz({{"local.tgz.ve", "sealed"}});
       },
       std::nullopt,
       {"state.tgz: missing encryption.info"}},
      {"LocalTgzThatIsAFolder",
       [] { return Tar(TarBuilder().Dir("local.tgz")); },
       StateKind::kEsxiState,
       {"state.tgz: missing local.tgz"}},
      {"BundleWithoutStateTgz",
       [] {
         return MakeTgz({{"Manifest.txt", "BUILD=1\n"}});
       },
       StateKind::kEsxiConfigBundle,
       {"configBundle: missing state.tgz"}},
      {"BundleWithoutAnything",
       [] {
         return MakeTgz({{"README", "hi"}});
       },
       StateKind::kEsxiConfigBundle,
       {"configBundle: missing Manifest.txt and state.tgz"}},
      {"BundleWhoseStateLacksLocalTgz",
       [] {
         return MakeTgz({{"Manifest.txt", "BUILD=1\n"}, {"state.tgz", MakeTgz({{"x", "x"}})}});
       },
       std::nullopt,
       {"configBundle/state.tgz: missing local.tgz"}},
      {"BundleWithBadEntryTwoLevelsDown",
       [] {
         return MakeConfigBundle("VMware ESXi 8.0.2 build-22380479", {{"etc/../x", "x"}});
       },
       std::nullopt,
       {"configBundle/state.tgz/local.tgz: entry \"etc/../x\": path has a \"..\" component"}},
      {"BundleWithOverlongReleaseLevel",
       [] {
         return MakeConfigBundle(std::string(300, 'v'), {{"etc/hosts", "h"}});
       },
       std::nullopt,
       {"configBundle: entry \"Manifest.txt\": RELEASELEVEL is longer than 256"}},
      // Kind mismatch.
      {"StateWhereBundleExpected",
       [] {
         return MakeEsxiStateTgz({{"etc/hosts", "h"}});
       },
       StateKind::kEsxiConfigBundle,
       {"configBundle: expected esxi-config-bundle, found esxi-state (local.tgz at the top)"}},
      {"BundleWhereStateExpected",
       [] {
         return MakeConfigBundle("", {{"etc/hosts", "h"}});
       },
       StateKind::kEsxiState,
       {"state.tgz: expected esxi-state, found esxi-config-bundle (Manifest.txt and state.tgz"}},
      {"StateWherePlainExpected",
       [] { return MakeEncryptedEsxiStateTgz(); },
       StateKind::kPlainTarball,
       {"tarball: expected plain-tarball, found esxi-state (local.tgz.ve at the top)"}},
      {"BundleInsideBundle",
       [] {
         return MakeTgz({{"Manifest.txt", "BUILD=1\n"},
                         {"state.tgz", MakeConfigBundle("", {{"etc/hosts", "h"}})}});
       },
       std::nullopt,
       {"configBundle/state.tgz: expected esxi-state, found esxi-config-bundle"}},
      // Limits.
      {"TooManyEntries",
       [] {
         return MakeTgz({{"a", "a"}, {"b", "b"}, {"c", "c"}, {"d", "d"}});
       },
       std::nullopt,
       {"archive: entry \"d\": more than 3 entries (all layers together)"},
       {.max_entries = 3}},
      {"TooManyEntriesCountingNestedLayers",
       [] {
         return MakeEsxiStateTgz({{"etc/a", "a"}, {"etc/b", "b"}, {"etc/c", "c"}});
       },
       std::nullopt,
       {"state.tgz/local.tgz: entry \"etc/c\": more than 3 entries"},
       {.max_entries = 3}},
      {"TooManyBytes",
       [] {
         return MakeTgz({{"big", std::string(2 << 20, 'x')}});
       },
       std::nullopt,
       {"archive: entry \"big\": more than 1048576 bytes uncompressed"},
       {.max_uncompressed_bytes = 1 << 20}},
      {"NestedMemberLargerThanWhatIsLeft",
       [] { return StateWithLocal(std::string(2 << 20, 'x')); },
       std::nullopt,
       {"archive: entry \"local.tgz\": more than 1048576 bytes uncompressed"},
       {.max_uncompressed_bytes = 1 << 20}},
  };
}

INSTANTIATE_TEST_SUITE_P(Table, RefusesBadArchive, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(ValidateStateArchive, AcceptsPlainTarball) {
  auto info = ValidateStateArchive(
      Tar(TarBuilder().Dir("srv").File("srv/app.conf", "port=80\n").File("README", "hi")));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kPlainTarball);
  EXPECT_EQ(info->entries, 3u);
  EXPECT_GT(info->uncompressed_bytes, 3u * 512);
  EXPECT_TRUE(info->labels.empty());
}

TEST(ValidateStateArchive, AcceptsDotSlashNamesAsTarDashCWrites) {
  const std::string local = Tar(TarBuilder()
                                    .Dir("./")
                                    .Dir("./etc/")
                                    .Dir("./etc/ssh/")
                                    .File("./etc/ssh/sshd_config", "Port 22\n")
                                    .Symlink("./etc/localtime", "zoneinfo/UTC")
                                    .File("./etc/zoneinfo/UTC", "TZif2"));
  const std::string state = Tar(TarBuilder().Dir("./").File("./local.tgz", local));
  auto info = ValidateStateArchive(state);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiState);
  EXPECT_EQ(info->entries, 8u);
  EXPECT_TRUE(ValidateStateArchive(state, StateKind::kEsxiState).ok());
}

TEST(ValidateStateArchive, DetectsEsxiStateAndCountsAllLayers) {
  auto info = ValidateStateArchive(
      MakeEsxiStateTgz({{"etc/hosts", "127.0.0.1 localhost\n"}, {"etc/vmware/esx.conf", "x\n"}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiState);
  EXPECT_EQ(info->entries, 3u);  // local.tgz, then two files inside it.
}

TEST(ValidateStateArchive, AcceptsEncryptedEsxi7StateWithoutLookingInside) {
  for (std::optional<StateKind> expected :
       {std::optional<StateKind>(), std::optional(StateKind::kEsxiState)}) {
    auto info = ValidateStateArchive(MakeEncryptedEsxiStateTgz(), expected);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->kind, StateKind::kEsxiState);
    EXPECT_EQ(info->entries, 2u);
  }
}

TEST(ValidateStateArchive, LabelsBundleWithItsTrimmedReleaseLevel) {
  const std::string state = MakeEsxiStateTgz({{"etc/hosts", "h\n"}});
  const std::string manifest =
      "UUID=4c4c4544\r\n  RELEASELEVEL =  VMware ESXi 8.0.2 build-22380479 \r\nBUILD=1\r\n";
  auto info = ValidateStateArchive(MakeTgz({{"Manifest.txt", manifest}, {"state.tgz", state}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiConfigBundle);
  EXPECT_THAT(info->labels, ::testing::ElementsAre(
                                ::testing::Pair("esxi_build", "VMware ESXi 8.0.2 build-22380479")));
  EXPECT_EQ(info->entries, 4u);
}

TEST(ValidateStateArchive, AcceptsBundleWithoutReleaseLevel) {
  auto info = ValidateStateArchive(MakeConfigBundle("", {{"etc/hosts", "h\n"}}),
                                   StateKind::kEsxiConfigBundle);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->labels.empty());
}

TEST(ValidateStateArchive, AcceptsEncryptedStateInsideBundle) {
  auto info = ValidateStateArchive(
      MakeTgz({{"Manifest.txt", "RELEASELEVEL=VMware ESXi 7.0.3 build-21930508\n"},
               {"state.tgz", MakeEncryptedEsxiStateTgz()}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->labels.at("esxi_build"), "VMware ESXi 7.0.3 build-21930508");
}

TEST(ValidateStateArchive, AcceptsSymlinksAndHardlinksInsideTheTree) {
  auto info = ValidateStateArchive(Tar(TarBuilder()
                                           .Dir("a/b")
                                           .File("a/b/f", "f")
                                           .Symlink("a/b/up", "../c")
                                           .Symlink("l", "a/b")
                                           .Symlink("x", "l/../c")
                                           .Symlink("self", ".")
                                           .Hardlink("a/h", "./a/b/f")));
  ASSERT_TRUE(info.ok()) << info.status();
  auto local = ValidateStateArchive(StateWithLocal(
      Tar(TarBuilder().File("etc/a", "a").Symlink("etc/l", "a").Hardlink("etc/h", "etc/a"))));
  ASSERT_TRUE(local.ok()) << local.status();
}

TEST(ValidateStateArchive, AcceptsGzipStreamOfSeveralMembers) {
  const std::string tar =
      Tar(TarBuilder(TarBuilder::Compression::kNone).File("a", std::string(5000, 'a')));
  auto info = ValidateStateArchive(Gzip(tar.substr(0, 1000)) + Gzip(tar.substr(1000)));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->uncompressed_bytes, tar.size());
}

TEST(ValidateStateArchive, AcceptsExactlyTheLimits) {
  const std::string archive = MakeEsxiStateTgz({{"etc/a", "a"}, {"etc/b", std::string(9000, 'b')}});
  auto info = ValidateStateArchive(archive);
  ASSERT_TRUE(info.ok()) << info.status();
  StateArchiveLimits exact{.max_entries = info->entries,
                           .max_uncompressed_bytes = info->uncompressed_bytes};
  EXPECT_TRUE(ValidateStateArchive(archive, std::nullopt, exact).ok());
  StateArchiveLimits one_entry_less = exact;
  --one_entry_less.max_entries;
  EXPECT_EQ(ValidateStateArchive(archive, std::nullopt, one_entry_less).status().code(),
            absl::StatusCode::kInvalidArgument);
  StateArchiveLimits one_byte_less = exact;
  --one_byte_less.max_uncompressed_bytes;
  auto refused = ValidateStateArchive(archive, std::nullopt, one_byte_less);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("bytes uncompressed (all layers together)"));
}

// 200 MiB of zeros gzip to ~200 KiB; inflating stops at the 64 MiB default.
class GzipBomb : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bomb_ = new std::string(
        Tar(TarBuilder(TarBuilder::Compression::kGzipFast).ZeroFile("etc/zeros", 200ull << 20)));
  }
  static void TearDownTestSuite() { delete bomb_; }
  static std::string* bomb_;
};
std::string* GzipBomb::bomb_ = nullptr;

TEST_F(GzipBomb, IsRefusedWhileInflating) {
  ASSERT_LT(bomb_->size(), 1u << 20);
  const auto start = std::chrono::steady_clock::now();
  auto info = ValidateStateArchive(*bomb_);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
  EXPECT_THAT(info.status().message(),
              HasSubstr("archive: entry \"etc/zeros\": more than 67108864 bytes uncompressed"));
  // Inflating 64 MiB of zeros takes well under a second; all 200 MiB would
  // take three times as long. Generous for sanitizer builds.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(GzipBomb, IsRefusedOneLayerDown) {
  auto info = ValidateStateArchive(StateWithLocal(*bomb_), StateKind::kEsxiState);
  ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
  EXPECT_THAT(info.status().message(),
              HasSubstr("state.tgz/local.tgz: entry \"etc/zeros\": more than 67108864 bytes"));
}

TEST(StateKindNames, RoundTrip) {
  for (StateKind kind :
       {StateKind::kEsxiState, StateKind::kEsxiConfigBundle, StateKind::kPlainTarball}) {
    auto parsed = ParseStateKind(StateKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(StateKindName(StateKind::kEsxiState), "esxi-state");
  EXPECT_EQ(StateKindName(StateKind::kEsxiConfigBundle), "esxi-config-bundle");
  EXPECT_EQ(StateKindName(StateKind::kPlainTarball), "plain-tarball");
}

TEST(StateKindNames, RefusesUnknownNames) {
  for (std::string_view name : {"", "esxi", "ESXI-STATE", "plain-tarball "}) {
    auto parsed = ParseStateKind(name);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(parsed.status().message(), HasSubstr("\"" + std::string(name) + "\""));
  }
}

}  // namespace
}  // namespace midwife
