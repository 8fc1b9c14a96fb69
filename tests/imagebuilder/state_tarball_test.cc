#include "imagebuilder/state_tarball.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file_io.h"
#include "core/sha256.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;

std::vector<StateFile> Etc() {
  return {{"etc/vmware/esx.conf", "/adv/Net/FollowHardwareMac = \"1\"\n", false, ""},
          {"etc/hosts", "127.0.0.1 localhost\n", false, ""},
          {"etc/rc.local.d/local.sh", "#!/bin/sh\nexit 0\n", true, ""},
          {"etc/localtime", "", false, "../usr/share/zoneinfo/UTC"}};
}

TEST(StateTarball, SameFilesGiveTheSameBytesWhateverTheirOrder) {
  auto files = Etc();
  std::string first = PackEsxiState(files);
  std::reverse(files.begin(), files.end());
  EXPECT_EQ(Sha256Hex(PackEsxiState(files)), Sha256Hex(first));
  EXPECT_EQ(PackCpioOverlay(Etc()), PackCpioOverlay(files));
}

TEST(StateTarball, FolderMtimesDoNotChangeTheDigest) {
  testing::TempDir a, b;
  ASSERT_TRUE(WriteStateFolder(a.path(), Etc()).ok());
  ASSERT_TRUE(WriteStateFolder(b.path(), Etc()).ok());
  auto touch = testing::RunCommand({"/usr/bin/touch", "-d", "2001-02-03", b.File("etc/hosts")});
  ASSERT_EQ(touch.exit_code, 0) << touch.out;
  auto fa = ReadStateFolder(a.path());
  auto fb = ReadStateFolder(b.path());
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_EQ(Sha256Hex(PackEsxiState(*fa)), Sha256Hex(PackEsxiState(*fb)));
}

TEST(StateTarball, PackedStateIsValidEsxiLayoutAndRoundTrips) {
  std::string state = PackEsxiState(Etc());
  auto info = ValidateStateArchive(state);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiState);
  auto files = ReadStateFiles(state);
  ASSERT_TRUE(files.ok()) << files.status();
  auto expected = Etc();
  std::sort(expected.begin(), expected.end(), [](auto& x, auto& y) { return x.path < y.path; });
  EXPECT_EQ(*files, expected);
}

TEST(StateTarball, UnpackToFolderAndPackAgainGivesTheSameDigest) {
  testing::TempDir dir;
  std::string state = PackEsxiState(Etc());
  auto files = ReadStateFiles(state);
  ASSERT_TRUE(files.ok());
  ASSERT_TRUE(WriteStateFolder(dir.path(), *files).ok());
  auto again = ReadStateFolder(dir.path());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(PackEsxiState(*again), state);
}

TEST(StateTarball, ConfigBundleYieldsItsInnerStateTgz) {
  std::string bundle = testing::MakeConfigBundle("VMware ESXi 8.0.2 build-22380479", {{"etc/hosts", "b\n"}});
  auto state = EsxiStateFromBackup(bundle);
  ASSERT_TRUE(state.ok()) << state.status();
  auto files = ReadStateFiles(*state);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, "etc/hosts");
}

TEST(StateTarball, PlainTarballBecomesDeterministicCpioOverlay) {
  std::string backup = testing::MakeTgz({{"etc/hostname", "node1\n"}, {"etc/motd", "hi\n"}});
  auto a = CpioOverlayFromBackup(backup);
  auto b = CpioOverlayFromBackup(backup);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  // The real cpio tool reads it back.
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.File("o.cpio.gz"), *a).ok());
  auto list = testing::RunCommand({"/bin/sh", "-c", "gzip -dc " + dir.File("o.cpio.gz") + " | cpio -it 2>/dev/null"});
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_EQ(list.out, "etc\netc/hostname\netc/motd\n");
}

TEST(StateTarball, DiffNamesAddedRemovedAndChanged) {
  auto before = Etc();
  auto after = Etc();
  after[1].data = "changed\n";
  after.pop_back();
  after.push_back({"etc/new", "n", false, ""});
  StateDiff d = DiffStateFiles(before, after);
  EXPECT_THAT(d.added, ElementsAre("etc/new"));
  EXPECT_THAT(d.removed, ElementsAre("etc/localtime"));
  EXPECT_THAT(d.changed, ElementsAre("etc/hosts"));
}

TEST(StateTarball, EncryptedStateCannotBeReadHere) {
  auto files = ReadStateFiles(testing::MakeTgz({{"local.tgz.ve", "x"}, {"encryption.info", "y"}}));
  EXPECT_EQ(files.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StateTarball, WriteStateFolderRefusesEscapes) {
  testing::TempDir dir;
  EXPECT_FALSE(WriteStateFolder(dir.path(), {{"../x", "", false, ""}}).ok());
  EXPECT_FALSE(WriteStateFolder(dir.path(), {{"etc/x", "", false, "../../../etc"}}).ok());
}

}  // namespace
}  // namespace midwife::imagebuilder
