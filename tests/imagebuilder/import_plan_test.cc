#include "imagebuilder/import_plan.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

auto FromPath(const std::string& path) { return Field(&PlannedModule::source_path, path); }

std::vector<SourceEntry> Entries(const std::vector<std::string>& paths) {
  std::vector<SourceEntry> out;
  for (const std::string& path : paths) out.push_back({path, 100, ""});
  return out;
}

TEST(SourcePath, ComparesLikeIso9660) {
  EXPECT_TRUE(SameSourcePath("B.B00", "b.b00"));
  EXPECT_TRUE(SameSourcePath("B.B00;1", "/b.b00"));
  EXPECT_TRUE(SameSourcePath("EFI/BOOT/BOOT.CFG", "efi/boot/boot.cfg"));
  EXPECT_TRUE(SameSourcePath("./efi//boot/boot.cfg", "/EFI/BOOT/BOOT.CFG"));
  EXPECT_FALSE(SameSourcePath("efi/boot/boot.cfg", "boot.cfg"));
  EXPECT_FALSE(SameSourcePath("a/b.b00", "b/b.b00"));
  EXPECT_FALSE(SameSourcePath("", ""));
}

TEST(SourcePath, KnowsDescriptorNames) {
  EXPECT_TRUE(IsDescriptorPath("BOOT.CFG"));
  EXPECT_TRUE(IsDescriptorPath("EFI/BOOT/BOOT.CFG;1"));
  EXPECT_TRUE(IsDescriptorPath("linux.cfg"));
  EXPECT_FALSE(IsDescriptorPath("isolinux/boot.cfg"));
  EXPECT_FALSE(IsDescriptorPath("B.B00"));
}

TEST(PlanImport, MapsEveryBootCfgPathToItsIsoEntry) {
  const auto entries = Entries({"BOOT.CFG", "B.B00", "K.B00", "S.V00"});
  auto plan =
      PlanImport(ImageKind::kEsxi, "x.iso", entries,
                 {{"BOOT.CFG", "kernel=/b.b00 -c boot.cfg\nmodules=/k.b00 ks=usb --- s.v00\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->descriptor_path, "BOOT.CFG");
  EXPECT_EQ(plan->kernel.name, "b.b00");
  EXPECT_EQ(plan->kernel.options, "-c boot.cfg");
  EXPECT_EQ(plan->kernel.source_path, "B.B00");
  EXPECT_THAT(plan->modules, ElementsAre(FromPath("K.B00"), FromPath("S.V00")));
  EXPECT_EQ(plan->modules[0].options, "ks=usb");
  EXPECT_EQ(plan->total_bytes, 300u);
}

TEST(PlanImport, PrefersTheRootBootCfgOverTheEfiOne) {
  const auto entries = Entries({"EFI/BOOT/BOOT.CFG", "BOOT.CFG", "A.B00", "B.B00"});
  auto plan =
      PlanImport(ImageKind::kEsxi, "x.iso", entries,
                 {{"EFI/BOOT/BOOT.CFG", "kernel=/a.b00\n"}, {"BOOT.CFG", "kernel=/b.b00\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->descriptor_path, "BOOT.CFG");
  EXPECT_EQ(plan->kernel.source_path, "B.B00");
}

TEST(PlanImport, ResolvesRelativePathsInTheDescriptorsFolder) {
  const auto entries = Entries({"efi/boot/boot.cfg", "efi/boot/b.b00", "b.b00"});
  auto plan = PlanImport(ImageKind::kEsxi, "d", entries, {{"efi/boot/boot.cfg", "kernel=b.b00\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kernel.source_path, "efi/boot/b.b00");
}

TEST(PlanImport, FindsFilesOfAPrefixThatNamedTheOldServerByName) {
  const auto entries = Entries({"boot.cfg", "b.b00", "s.v00"});
  auto plan =
      PlanImport(ImageKind::kEsxi, "d", entries,
                 {{"boot.cfg", "prefix=http://192.0.2.1/esxi\nkernel=b.b00\nmodules=s.v00\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kernel.source_path, "b.b00");
  EXPECT_THAT(plan->modules, ElementsAre(FromPath("s.v00")));
}

TEST(PlanImport, ReadsLinuxCfgForLinuxImages) {
  const auto entries = Entries({"linux.cfg", "vmlinuz", "a.cpio.gz"});
  auto plan = PlanImport(ImageKind::kLinux, "d", entries,
                         {{"linux.cfg", "kernel=vmlinuz\nmodules=a.cpio.gz\nkernelopt=quiet\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->descriptor_path, "linux.cfg");
  EXPECT_EQ(plan->cfg.kernelopt, "quiet");
  // An ESXi import does not take linux.cfg for a boot.cfg.
  EXPECT_EQ(PlanImport(ImageKind::kEsxi, "d", entries, {{"linux.cfg", "kernel=vmlinuz\n"}})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(PlanImport, ListsAllMissingFilesInOneError) {
  const auto entries = Entries({"BOOT.CFG", "B.B00", "K.B00"});
  auto plan = PlanImport(ImageKind::kEsxi, "x.iso", entries,
                         {{"BOOT.CFG", "kernel=/b.b00\nmodules=/a.v00 --- /k.b00 --- /z.v00\n"}});
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(plan.status().message(),
            "x.iso: BOOT.CFG names 2 files that are not in the source: /a.v00, /z.v00; use the "
            "complete installer or add them");
}

TEST(PlanImport, RefusesBadDescriptors) {
  const auto entries = Entries({"boot.cfg", "b.b00"});
  const struct {
    std::string text;
    absl::StatusCode code;
    std::string message;
  } kCases[] = {
      {"title=no kernel\n", absl::StatusCode::kInvalidArgument, "has no kernel= line"},
      {"kernel=/b.b00\nbootstate=9\n", absl::StatusCode::kInvalidArgument, "boot.cfg line 2"},
      {"kernel=/b.b00\nmodules=/b.b00\n", absl::StatusCode::kInvalidArgument,
       "names module b.b00 twice"},
      {"kernel=/B.B00\nmodules=/b.b00\n", absl::StatusCode::kInvalidArgument, "twice"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    auto plan = PlanImport(ImageKind::kEsxi, "d", entries, {{"boot.cfg", c.text}});
    EXPECT_EQ(plan.status().code(), c.code);
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.message));
  }
}

TEST(PlanImport, ReadsAHardLinksBytesFromItsTarget) {
  std::vector<SourceEntry> entries = {
      {"boot.cfg", 10, ""}, {"b.b00", 10, ""}, {"s.v00", 10, "b.b00"}};
  auto plan = PlanImport(ImageKind::kEsxi, "t.tar", entries,
                         {{"boot.cfg", "kernel=b.b00\nmodules=s.v00\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->modules, ElementsAre(FromPath("b.b00")));
  EXPECT_EQ(plan->modules[0].name, "s.v00");
  EXPECT_EQ(plan->total_bytes, 10u);  // the same bytes, counted once
}

TEST(MakeImportedImage, TakesBootSettingsAndDigests) {
  const auto entries = Entries({"boot.cfg", "b.b00", "s.v00"});
  auto plan = PlanImport(ImageKind::kEsxi, "d", entries,
                         {{"boot.cfg",
                           "bootstate=0\nprefix=/x\ntitle=T\nkernel=b.b00\nmodules=s.v00 a=1\n"
                           "kernelopt=k\nbuild=8\nupdated=4\nnobootif=1\nfoo=bar\n"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::map<std::string, StoredBlob> stored = {{"b.b00", {BlobDigest::Of("b"), 1}},
                                                    {"s.v00", {BlobDigest::Of("s"), 2}}};
  const ImageManifest image =
      MakeImportedImage(*plan, {"esxi", "1"}, ImageKind::kEsxi, "T0", stored);
  EXPECT_EQ(image.kernel, (ImageModule{"b.b00", BlobDigest::Of("b"), 1, ""}));
  EXPECT_THAT(image.modules, ElementsAre(ImageModule{"s.v00", BlobDigest::Of("s"), 2, "a=1"}));
  EXPECT_EQ(image.title, "T");
  EXPECT_EQ(image.kernelopt, "k");
  EXPECT_EQ(image.build, "8");
  EXPECT_EQ(image.loader_options,
            (std::vector<std::pair<std::string, std::string>>{{"nobootif", "1"}}));
  EXPECT_EQ(image.unknown_keys, (std::vector<std::pair<std::string, std::string>>{{"foo", "bar"}}));
  // Bank state, prefix and generation belong to a host's bank, not to the image.
  EXPECT_FALSE(ToBootCfg(image).bootstate.has_value());
  EXPECT_EQ(ToBootCfg(image).prefix, "");
}

}  // namespace
}  // namespace midwife::imagebuilder
