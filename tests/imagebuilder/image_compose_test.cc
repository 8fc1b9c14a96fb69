#include "imagebuilder/image_compose.h"

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "imagebuilder/image_diff.h"
#include "tests/imagebuilder/test_media.h"
#include "tests/support/child_process.h"

namespace midwife::imagebuilder {
namespace {

using ::midwife::imagebuilder::testing::BlobCount;
using ::midwife::imagebuilder::testing::CountBlobs;
using ::midwife::imagebuilder::testing::EsxiInstallerFiles;
using ::midwife::imagebuilder::testing::PseudoRandomBytes;
using ::midwife::imagebuilder::testing::WriteFolder;
using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

auto Named(const std::string& name) { return Field(&ImageModule::name, name); }

class ComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto repo = ImageRepository::Open(dir_.File("repo"), /*create_if_missing=*/true);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    WriteFolder(dir_.File("installer"), EsxiInstallerFiles());
    ImportOptions options;
    options.source = dir_.File("installer");
    options.ref = {"esxi", "8.0u2"};
    absl::StatusOr<WriteResult> base = ImportImage(*repo_, options);
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = *std::move(base);
  }

  std::string File(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_.File(name), std::ios::binary) << bytes;
    return dir_.File(name);
  }

  absl::StatusOr<WriteResult> Compose(ComposeEdits edits,
                                      const std::string& version = "8.0u2-vendor") {
    ComposeOptions options;
    options.from = {"esxi", "8.0u2"};
    options.ref = {"esxi", version};
    options.edits = std::move(edits);
    options.clock = [] { return std::chrono::system_clock::from_time_t(1800000000); };
    return ComposeImage(*repo_, options);
  }

  TempDir dir_;
  std::unique_ptr<ImageRepository> repo_;
  WriteResult base_;
};

TEST_F(ComposeTest, WritesOnlyTheBytesOfTheChangedModule) {
  const BlobCount before = CountBlobs(dir_.File("repo"));
  const std::string driver = File("s.v00", PseudoRandomBytes("newer s", 7300));
  absl::StatusOr<WriteResult> result = Compose({.replace = {{"s.v00", driver}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->blobs_written, 1u);
  EXPECT_EQ(result->bytes_written, 7300u);

  // On disk: that module, plus the new image's config and manifest; nothing else.
  const OciManifest manifest = *repo_->ReadOciManifest(result->digest);
  const uint64_t manifest_size = repo_->ListImages()->at(1).size;
  const BlobCount after = CountBlobs(dir_.File("repo"));
  EXPECT_EQ(after.files, before.files + 3);
  EXPECT_EQ(after.bytes, before.bytes + 7300 + manifest.config.size + manifest_size);
}

TEST_F(ComposeTest, RecordsItsParentAndLeavesTheParentUntouched) {
  const std::string nic = File("nic.v00", PseudoRandomBytes("nic", 2000));
  absl::StatusOr<WriteResult> result =
      Compose({.add = {{nic, {ModulePosition::Kind::kAfter, 0, "k.b00"}}},
               .append_kernelopt = "ks=http://192.0.2.1/ks.cfg"});
  ASSERT_TRUE(result.ok()) << result.status();
  const ResolvedImage composed = *repo_->Resolve({"esxi", "8.0u2-vendor"});
  ASSERT_TRUE(composed.image.parent.has_value());
  EXPECT_EQ(composed.image.parent->ref, (ImageRef{"esxi", "8.0u2"}));
  EXPECT_EQ(composed.image.parent->digest, base_.digest);
  EXPECT_EQ(composed.image.created, "2027-01-15T08:00:00Z");
  EXPECT_THAT(composed.image.modules,
              ElementsAre(Named("jumpstrt.gz"), Named("k.b00"), Named("nic.v00"), Named("s.v00")));
  EXPECT_EQ(composed.image.kernelopt, "runweasel cdromBoot ks=http://192.0.2.1/ks.cfg");

  const ResolvedImage parent = *repo_->Resolve({"esxi", "8.0u2"});
  EXPECT_EQ(parent.digest, base_.digest);
  EXPECT_EQ(parent.image, base_.image);

  const ImageDiff diff = DiffImages(parent.image, composed.image);
  EXPECT_THAT(diff.added, ElementsAre(Named("nic.v00")));
  EXPECT_TRUE(diff.removed.empty());
  EXPECT_TRUE(diff.changed.empty());
}

TEST_F(ComposeTest, AddingBytesTheStoreHoldsWritesNoModule) {
  const std::string copy = File("copy.v00", EsxiInstallerFiles().at("S.V00"));
  absl::StatusOr<WriteResult> result = Compose({.add = {{copy, {}}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->blobs_written, 0u);
}

TEST_F(ComposeTest, AMissingFileStoresNothing) {
  const BlobCount before = CountBlobs(dir_.File("repo"));
  absl::StatusOr<WriteResult> result =
      Compose({.add = {{File("a.v00", "a"), {}}, {dir_.File("nope.v00"), {}}}});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("nope.v00"));
  EXPECT_EQ(CountBlobs(dir_.File("repo")).files, before.files);
}

TEST_F(ComposeTest, AnEditThatDoesNotFitTakesItsStoredFilesBack) {
  const BlobCount before = CountBlobs(dir_.File("repo"));
  absl::StatusOr<WriteResult> result =
      Compose({.remove = {"nope.v00"}, .add = {{File("a.v00", PseudoRandomBytes("a", 900)), {}}}});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  const BlobCount after = CountBlobs(dir_.File("repo"));
  EXPECT_EQ(after.files, before.files);
  EXPECT_EQ(after.temporaries, 0u);
  EXPECT_EQ(repo_->Resolve({"esxi", "8.0u2-vendor"}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ComposeTest, RefusesAnUnknownParent) {
  ComposeOptions options;
  options.from = {"esxi", "7.0"};
  options.ref = {"esxi", "7.0-x"};
  EXPECT_EQ(ComposeImage(*repo_, options).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ComposeTest, ComposingTheSameAgainIsANoOpAndOtherEditsAreRefused) {
  ASSERT_TRUE(Compose({.title = "Vendor"}).ok());
  absl::StatusOr<WriteResult> again = Compose({.title = "Vendor"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  absl::StatusOr<WriteResult> other = Compose({.title = "Other"});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("(title)"));
}

}  // namespace
}  // namespace midwife::imagebuilder
