#include "imagebuilder/image_import.h"

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/imagebuilder/test_media.h"
#include "tests/support/child_process.h"

namespace midwife::imagebuilder {
namespace {

using ::midwife::imagebuilder::testing::BlobCount;
using ::midwife::imagebuilder::testing::CountBlobs;
using ::midwife::imagebuilder::testing::EsxiInstallerFiles;
using ::midwife::imagebuilder::testing::Files;
using ::midwife::imagebuilder::testing::PseudoRandomBytes;
using ::midwife::imagebuilder::testing::WriteFolder;
using ::midwife::imagebuilder::testing::WriteIso;
using ::midwife::imagebuilder::testing::WriteTarball;
using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

auto Named(const std::string& name) { return Field(&ImageModule::name, name); }

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = ImageRepository::Open(dir_.File("repo"), /*create_if_missing=*/true);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
  }

  absl::StatusOr<WriteResult> Import(const std::string& source, const std::string& version,
                                     ImageKind kind = ImageKind::kEsxi, int64_t time = 1700000000) {
    ImportOptions options;
    options.source = source;
    options.ref = {"esxi", version};
    options.kind = kind;
    options.clock = [time] { return std::chrono::system_clock::from_time_t(time); };
    return ImportImage(*repo_, options);
  }

  std::string Iso(const Files& files, const std::string& name = "installer.iso") {
    const std::string path = dir_.File(name);
    WriteIso(path, files);
    return path;
  }

  std::string repo_dir() const { return dir_.File("repo"); }

  TempDir dir_;
  std::unique_ptr<ImageRepository> repo_;
};

TEST_F(ImportTest, ImportsEsxiIsoMatchingUpperCaseIsoNamesToBootCfgNames) {
  const Files files = EsxiInstallerFiles();
  absl::StatusOr<WriteResult> result = Import(Iso(files), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->created);
  EXPECT_EQ(result->blobs_written, 4u);

  absl::StatusOr<ResolvedImage> resolved = repo_->Resolve({"esxi", "8.0u2"});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  const ImageManifest& image = resolved->image;
  EXPECT_EQ(resolved->digest, result->digest);
  EXPECT_EQ(image.kind, ImageKind::kEsxi);
  EXPECT_EQ(image.created, "2023-11-14T22:13:20Z");
  EXPECT_EQ(image.title, "Loading ESXi installer");
  EXPECT_EQ(image.kernelopt, "runweasel cdromBoot");
  EXPECT_EQ(image.build, "8.0.2-0.0.22380479");
  EXPECT_EQ(image.timeout, 5);
  EXPECT_FALSE(image.parent.has_value());
  EXPECT_EQ(image.kernel, (ImageModule{"b.b00", BlobDigest::Of(files.at("B.B00")), 6000, ""}));
  EXPECT_THAT(image.modules, ElementsAre(Named("jumpstrt.gz"), Named("k.b00"), Named("s.v00")));
  EXPECT_EQ(image.modules[1].options, "ks=usb");
  EXPECT_EQ(image.modules[2].digest, BlobDigest::Of(files.at("S.V00")));
  // The path the boot server sends is the blob itself.
  std::ifstream blob(repo_->BlobPath(image.modules[2].digest), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(blob), {}), files.at("S.V00"));
}

TEST_F(ImportTest, FindsBootCfgUnderEfiBootWhenTheRootHasNone) {
  Files files = EsxiInstallerFiles();
  files["EFI/BOOT/BOOT.CFG"] = files.at("BOOT.CFG");
  files.erase("BOOT.CFG");
  absl::StatusOr<WriteResult> result = Import(Iso(files), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->image.modules,
              ElementsAre(Named("jumpstrt.gz"), Named("k.b00"), Named("s.v00")));
}

TEST_F(ImportTest, ReadsFilesThatShareAnExtentOnTheIso) {
  Files files = EsxiInstallerFiles();
  const std::string s_v00 = files.at("S.V00");
  files.erase("S.V00");
  files["A.V00"] = s_v00;  // the ISO holds these bytes once, under two names
  ASSERT_NO_FATAL_FAILURE(WriteIso(dir_.File("linked.iso"), files, {{"S.V00", "A.V00"}}));
  absl::StatusOr<WriteResult> result = Import(dir_.File("linked.iso"), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image.modules[2], (ImageModule{"s.v00", BlobDigest::Of(s_v00), 7000, ""}));
}

TEST_F(ImportTest, ImportsAFolder) {
  Files files;
  for (const auto& [name, contents] : EsxiInstallerFiles()) {
    files[name == "BOOT.CFG" ? "boot.cfg" : name] = contents;
  }
  WriteFolder(dir_.File("folder"), files);
  absl::StatusOr<WriteResult> result = Import(dir_.File("folder"), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image.kernel.digest, BlobDigest::Of(files.at("B.B00")));
  EXPECT_EQ(result->image.modules.size(), 3u);
}

TEST_F(ImportTest, KeepsTheBootLoadersBootCfgDoesNotName) {
  Files files = EsxiInstallerFiles();
  files["mboot.efi"] = PseudoRandomBytes("mboot.efi", 900);
  files["efi/boot/bootx64.efi"] = PseudoRandomBytes("bootx64", 800);
  WriteFolder(dir_.File("folder"), files);
  absl::StatusOr<WriteResult> result = Import(dir_.File("folder"), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->blobs_written, 6u);
  EXPECT_THAT(result->image.modules,
              ElementsAre(Named("jumpstrt.gz"), Named("k.b00"), Named("s.v00")));
  EXPECT_THAT(result->image.loaders,
              ElementsAre(ImageModule{"mboot.efi", BlobDigest::Of(files.at("mboot.efi")), 900, ""},
                          ImageModule{"bootx64.efi",
                                      BlobDigest::Of(files.at("efi/boot/bootx64.efi")), 800, ""}));
  // Stored and read back (the manifest and config blobs decoded) unchanged.
  absl::StatusOr<ResolvedImage> resolved = repo_->Resolve({"esxi", "8.0u2"});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->image, result->image);
}

TEST_F(ImportTest, FindsAnUpperCaseLoaderOnAnIso) {
  Files files = EsxiInstallerFiles();
  files["MBOOT.C32"] = PseudoRandomBytes("mboot.c32", 700);
  absl::StatusOr<WriteResult> result = Import(Iso(files), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->image.loaders, ElementsAre(ImageModule{
                                         "mboot.c32", BlobDigest::Of(files.at("MBOOT.C32")), 700, ""}));
}

TEST_F(ImportTest, ImportsAGzippedTarballWithDotSlashNames) {
  Files files;
  for (const auto& [name, contents] : EsxiInstallerFiles()) files["./" + name] = contents;
  ASSERT_NO_FATAL_FAILURE(WriteTarball(dir_.File("esxi.tgz"), files, /*gzip=*/true));
  absl::StatusOr<WriteResult> result = Import(dir_.File("esxi.tgz"), "8.0u2");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image.modules[0].digest, BlobDigest::Of(files.at("./JUMPSTRT.GZ")));
}

TEST_F(ImportTest, ImportsALinuxImageFromLinuxCfg) {
  const Files files = {
      {"linux.cfg",
       "kernel=vmlinuz\nmodules=base.cpio.gz --- extra.cpio.gz\nkernelopt=console=ttyS0 quiet\n"},
      {"vmlinuz", PseudoRandomBytes("kernel", 4000)},
      {"base.cpio.gz", PseudoRandomBytes("base", 3000)},
      {"extra.cpio.gz", PseudoRandomBytes("extra", 2000)}};
  ASSERT_NO_FATAL_FAILURE(WriteTarball(dir_.File("linux.tar"), files, /*gzip=*/false));
  absl::StatusOr<WriteResult> result = Import(dir_.File("linux.tar"), "1", ImageKind::kLinux);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image.kind, ImageKind::kLinux);
  EXPECT_EQ(result->image.kernel.name, "vmlinuz");
  EXPECT_THAT(result->image.modules, ElementsAre(Named("base.cpio.gz"), Named("extra.cpio.gz")));
  EXPECT_EQ(result->image.kernelopt, "console=ttyS0 quiet");
}

TEST_F(ImportTest, ListsEveryMissingModuleAtOnceAndStoresNothing) {
  Files files = EsxiInstallerFiles();
  files.erase("K.B00");
  files.erase("S.V00");
  absl::StatusOr<WriteResult> result = Import(Iso(files), "8.0u2");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("names 2 files that are not in the source: /k.b00, /s.v00"));
  EXPECT_EQ(CountBlobs(repo_dir()).files, 0u);
  EXPECT_THAT(*repo_->ListImages(), IsEmpty());
}

TEST_F(ImportTest, RefusesASourceWithoutBootCfgSayingWhatToGive) {
  Files files = EsxiInstallerFiles();
  files.erase("BOOT.CFG");
  absl::StatusOr<WriteResult> result = Import(Iso(files), "8.0u2");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("no boot.cfg or efi/boot/boot.cfg"));
}

TEST_F(ImportTest, RefusesAFileThatIsNoIsoOrTarball) {
  std::ofstream(dir_.File("junk.iso")) << PseudoRandomBytes("junk", 70000);
  absl::StatusOr<WriteResult> result = Import(dir_.File("junk.iso"), "8.0u2");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("is not an ISO 9660 image or a tarball"));
  EXPECT_EQ(CountBlobs(repo_dir()).files, 0u);
}

TEST_F(ImportTest, TruncatedIsoLeavesNoBlobAndNoImage) {
  Files files = EsxiInstallerFiles();
  files["S.V00"] = PseudoRandomBytes("big", 200000);  // last on disk
  const std::string iso = Iso(files);
  // Past the directory records and the first modules, inside S.V00 (the
  // writer pads the image's end, so cutting a little would only cut padding).
  std::filesystem::resize_file(iso, 100000);
  absl::StatusOr<WriteResult> result = Import(iso, "8.0u2");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("installer.iso"));
  const BlobCount count = CountBlobs(repo_dir());
  EXPECT_EQ(count.files, 0u);
  EXPECT_EQ(count.temporaries, 0u);
  EXPECT_THAT(*repo_->ListImages(), IsEmpty());
}

TEST_F(ImportTest, ReimportingTheSameContentIsANoOp) {
  const std::string iso = Iso(EsxiInstallerFiles());
  absl::StatusOr<WriteResult> first = Import(iso, "8.0u2");
  ASSERT_TRUE(first.ok()) << first.status();
  const BlobCount before = CountBlobs(repo_dir());
  absl::StatusOr<WriteResult> second = Import(iso, "8.0u2", ImageKind::kEsxi, 1800000000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->blobs_written, 0u);
  EXPECT_EQ(second->digest, first->digest);
  EXPECT_EQ(second->image.created, first->image.created);
  EXPECT_EQ(CountBlobs(repo_dir()).files, before.files);
}

TEST_F(ImportTest, RefusesOtherContentUnderAnExistingVersionAndKeepsTheOriginal) {
  ASSERT_TRUE(Import(Iso(EsxiInstallerFiles("v1"), "v1.iso"), "8.0u2").ok());
  const auto original = repo_->Resolve({"esxi", "8.0u2"});
  const BlobCount before = CountBlobs(repo_dir());
  absl::StatusOr<WriteResult> result = Import(Iso(EsxiInstallerFiles("v2"), "v2.iso"), "8.0u2");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("esxi@8.0u2 already exists with other content"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("immutable"));
  // The refused import's module blobs were taken back out.
  EXPECT_EQ(CountBlobs(repo_dir()).files, before.files);
  EXPECT_EQ(repo_->Resolve({"esxi", "8.0u2"})->digest, original->digest);
}

TEST_F(ImportTest, StoresModulesSharedByTwoImagesOnce) {
  Files files = EsxiInstallerFiles();
  ASSERT_TRUE(Import(Iso(files, "a.iso"), "8.0u2").ok());
  const BlobCount before = CountBlobs(repo_dir());
  files["S.V00"] = PseudoRandomBytes("patched", 7100);
  absl::StatusOr<WriteResult> result = Import(Iso(files, "b.iso"), "8.0u2a");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->blobs_written, 1u);
  EXPECT_EQ(result->bytes_written, 7100u);
  // One module, one config, one manifest.
  EXPECT_EQ(CountBlobs(repo_dir()).files, before.files + 3);
}

TEST_F(ImportTest, ReportsProgressUpToTheTotal) {
  uint64_t last_done = 0, last_total = 0;
  ImportOptions options;
  options.source = Iso(EsxiInstallerFiles());
  options.ref = {"esxi", "8.0u2"};
  options.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  };
  ASSERT_TRUE(ImportImage(*repo_, options).ok());
  EXPECT_EQ(last_total, 6000u + 3000 + 5000 + 7000);
  EXPECT_EQ(last_done, last_total);
}

TEST_F(ImportTest, AFullDiskSurfacesAsResourceExhaustedAndLeavesNothing) {
  // A file size limit makes write() fail as a full disk would, mid-blob.
  const std::string iso = Iso(EsxiInstallerFiles());
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  absl::StatusOr<WriteResult> result = Import(iso, "8.0u2");
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("installer.iso"));
  const BlobCount count = CountBlobs(repo_dir());
  EXPECT_EQ(count.files, 0u);
  EXPECT_EQ(count.temporaries, 0u);
  EXPECT_THAT(*repo_->ListImages(), IsEmpty());
}

TEST_F(ImportTest, RefusesToRunBesideAnotherWriter) {
  absl::StatusOr<WriteLock> lock = repo_->LockForWriting();
  ASSERT_TRUE(lock.ok()) << lock.status();
  absl::StatusOr<WriteResult> result = Import(Iso(EsxiInstallerFiles()), "8.0u2");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
}

}  // namespace
}  // namespace midwife::imagebuilder
