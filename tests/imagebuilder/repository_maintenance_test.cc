#include "imagebuilder/repository_maintenance.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "imagebuilder/image_import.h"
#include "tests/imagebuilder/test_media.h"
#include "tests/support/child_process.h"

namespace midwife::imagebuilder {
namespace {

using ::midwife::imagebuilder::testing::CountBlobs;
using ::midwife::imagebuilder::testing::EsxiInstallerFiles;
using ::midwife::imagebuilder::testing::Files;
using ::midwife::imagebuilder::testing::PseudoRandomBytes;
using ::midwife::imagebuilder::testing::WriteFolder;
using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = ImageRepository::Open(dir_.File("repo"), /*create_if_missing=*/true);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
  }

  WriteResult Import(const Files& files, const std::string& version) {
    WriteFolder(dir_.File(version), files);
    ImportOptions options;
    options.source = dir_.File(version);
    options.ref = {"esxi", version};
    absl::StatusOr<WriteResult> result = ImportImage(*repo_, options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : WriteResult{};
  }

  void Corrupt(const BlobDigest& digest) {
    const std::string path = repo_->BlobPath(digest);
    ::chmod(path.c_str(), 0644);
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    file.seekg(10);
    file.get(c);
    file.seekp(10);
    file.put(static_cast<char>(c ^ 0x40));
  }

  GcReport Gc(bool dry_run) {
    absl::StatusOr<WriteLock> lock = repo_->LockForWriting();
    EXPECT_TRUE(lock.ok()) << lock.status();
    absl::StatusOr<GcReport> report = CollectGarbage(*repo_, *lock, dry_run);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : GcReport{};
  }

  TempDir dir_;
  std::unique_ptr<ImageRepository> repo_;
};

TEST_F(MaintenanceTest, VerifyPassesAHealthyRepository) {
  Import(EsxiInstallerFiles(), "8.0u2");
  absl::StatusOr<VerifyReport> report = VerifyRepository(*repo_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->blobs_checked, 6u);  // four modules, a config, a manifest
}

TEST_F(MaintenanceTest, VerifyNamesAFlippedByteAndTheImagesUsingIt) {
  const Files files = EsxiInstallerFiles();
  const WriteResult a = Import(files, "8.0u2");
  Files other = files;
  other["B.B00"] = PseudoRandomBytes("other kernel", 6000);
  Import(other, "8.0u2b");
  const BlobDigest shared = a.image.modules[2].digest;  // s.v00, in both images
  Corrupt(shared);

  uint64_t last_done = 0, last_total = 0;
  absl::StatusOr<VerifyReport> report =
      VerifyRepository(*repo_, [&](uint64_t done, uint64_t total) {
        last_done = done;
        last_total = total;
      });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].digest, shared);
  EXPECT_THAT(report->problems[0].problem, HasSubstr("corrupt: its bytes hash to sha256:"));
  EXPECT_THAT(report->problems[0].used_by,
              ElementsAre("esxi@8.0u2 module s.v00", "esxi@8.0u2b module s.v00"));
  EXPECT_EQ(last_done, last_total);
}

TEST_F(MaintenanceTest, VerifyReportsAMissingBlob) {
  const WriteResult a = Import(EsxiInstallerFiles(), "8.0u2");
  ASSERT_EQ(std::remove(repo_->BlobPath(a.image.kernel.digest).c_str()), 0);
  absl::StatusOr<VerifyReport> report = VerifyRepository(*repo_);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].problem, "missing");
  EXPECT_THAT(report->problems[0].used_by, ElementsAre("esxi@8.0u2 kernel b.b00"));
}

TEST_F(MaintenanceTest, RemoveDropsTheNameAndGcTheBlobsOnlyThatImageUsed) {
  const Files files = EsxiInstallerFiles();
  const WriteResult a = Import(files, "8.0u2");
  Files other = files;
  other["S.V00"] = PseudoRandomBytes("patched", 7000);
  const WriteResult b = Import(other, "8.0u2b");
  const size_t before = CountBlobs(dir_.File("repo")).files;

  {
    absl::StatusOr<WriteLock> lock = repo_->LockForWriting();
    ASSERT_TRUE(lock.ok());
    ASSERT_TRUE(repo_->Remove(*lock, {"esxi", "8.0u2b"}).ok());
    EXPECT_EQ(repo_->Remove(*lock, {"esxi", "8.0u2b"}).code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(repo_->Resolve({"esxi", "8.0u2b"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CountBlobs(dir_.File("repo")).files, before);  // blobs stay until gc

  const GcReport dry = Gc(/*dry_run=*/true);
  EXPECT_EQ(dry.removed_blobs.size(), 3u);  // b's s.v00, config and manifest
  EXPECT_EQ(CountBlobs(dir_.File("repo")).files, before);

  const GcReport report = Gc(/*dry_run=*/false);
  EXPECT_EQ(report.removed_blobs.size(), 3u);
  EXPECT_EQ(report.kept_blobs, 6u);
  EXPECT_EQ(CountBlobs(dir_.File("repo")).files, before - 3);
  EXPECT_FALSE(repo_->blobs().Contains(b.image.modules[2].digest));
  EXPECT_FALSE(repo_->blobs().Contains(b.digest));
  EXPECT_TRUE(repo_->blobs().Contains(a.image.modules[2].digest));
  EXPECT_TRUE(VerifyRepository(*repo_)->ok());
  EXPECT_TRUE(repo_->Resolve({"esxi", "8.0u2"}).ok());
}

TEST_F(MaintenanceTest, GcRemovesLeftoversOfInterruptedWrites) {
  Import(EsxiInstallerFiles(), "8.0u2");
  std::ofstream(dir_.File("repo/blobs/sha256/.tmp-99-0123abcd")) << "half";
  std::ofstream(dir_.File("repo/index.json.tmp.99.0123abcd")) << "{";
  EXPECT_EQ(repo_->ListImages()->size(), 1u);  // invisible to readers
  const GcReport report = Gc(/*dry_run=*/false);
  EXPECT_THAT(report.removed_blobs, IsEmpty());
  EXPECT_THAT(report.removed_temporaries,
              ElementsAre("blobs/sha256/.tmp-99-0123abcd", "index.json.tmp.99.0123abcd"));
  EXPECT_EQ(CountBlobs(dir_.File("repo")).temporaries, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("repo/index.json.tmp.99.0123abcd")));
}

TEST_F(MaintenanceTest, GcRemovesNothingWhenAManifestIsUnreadable) {
  const WriteResult a = Import(EsxiInstallerFiles(), "8.0u2");
  ASSERT_TRUE(repo_->blobs().PutBytes("orphan", "test").ok());
  Corrupt(a.digest);
  absl::StatusOr<WriteLock> lock = repo_->LockForWriting();
  ASSERT_TRUE(lock.ok());
  absl::StatusOr<GcReport> report = CollectGarbage(*repo_, *lock, /*dry_run=*/false);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("esxi@8.0u2"));
  EXPECT_TRUE(repo_->blobs().Contains(BlobDigest::Of("orphan")));
}

TEST_F(MaintenanceTest, OpenRefusesAFolderThatIsNoRepository) {
  auto repo = ImageRepository::Open(dir_.File("elsewhere"));
  EXPECT_EQ(repo.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(repo.status().message()), HasSubstr("no image repository in"));
}

}  // namespace
}  // namespace midwife::imagebuilder
