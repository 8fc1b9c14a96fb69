#include "imagebuilder/image_diff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

auto Named(const std::string& name) { return Field(&ImageModule::name, name); }

ImageManifest Image(std::vector<ImageModule> modules) {
  ImageManifest image;
  image.ref = {"esxi", "1"};
  image.kernel = {"b.b00", BlobDigest::Of("b"), 1, ""};
  image.kernelopt = "runweasel";
  image.modules = std::move(modules);
  return image;
}

ImageModule Module(const std::string& name, const std::string& bytes,
                   const std::string& options = "") {
  return {name, BlobDigest::Of(bytes), bytes.size(), options};
}

TEST(DiffImages, FindsNothingBetweenEqualImages) {
  const ImageManifest a = Image({Module("k.b00", "k"), Module("s.v00", "s")});
  EXPECT_TRUE(DiffImages(a, a).empty());
}

TEST(DiffImages, ReportsAddedRemovedAndChangedModules) {
  const ImageManifest from =
      Image({Module("k.b00", "k"), Module("s.v00", "s"), Module("old.v00", "o")});
  ImageManifest to =
      Image({Module("K.B00", "k", "ks=usb"), Module("s.v00", "s2"), Module("nic.v00", "n")});
  to.kernel.digest = BlobDigest::Of("b2");
  const ImageDiff diff = DiffImages(from, to);
  EXPECT_THAT(diff.added, ElementsAre(Named("nic.v00")));
  EXPECT_THAT(diff.removed, ElementsAre(Named("old.v00")));
  ASSERT_EQ(diff.changed.size(), 3u);
  EXPECT_EQ(diff.changed[0].to.digest, BlobDigest::Of("b2"));  // the kernel
  EXPECT_EQ(diff.changed[1].to.options, "ks=usb");
  EXPECT_EQ(diff.changed[2].from.digest, BlobDigest::Of("s"));
  EXPECT_EQ(diff.changed[2].to.digest, BlobDigest::Of("s2"));
  EXPECT_FALSE(diff.reordered);
  EXPECT_THAT(diff.settings, IsEmpty());
}

TEST(DiffImages, ReportsKernelOptionsAndOtherSettings) {
  const ImageManifest from = Image({});
  ImageManifest to = from;
  to.kernelopt = "runweasel ks=http://x/ks.cfg";
  to.title = "Vendor";
  const ImageDiff diff = DiffImages(from, to);
  ASSERT_EQ(diff.settings.size(), 2u);
  EXPECT_EQ(diff.settings[0].key, "title");
  EXPECT_EQ(diff.settings[1].key, "kernelopt");
  EXPECT_EQ(diff.settings[1].from, "runweasel");
  EXPECT_EQ(diff.settings[1].to, "runweasel ks=http://x/ks.cfg");
}

TEST(DiffImages, NoticesAnotherOrder) {
  const ImageDiff diff =
      DiffImages(Image({Module("a.v00", "a"), Module("b.v00", "b")}),
                 Image({Module("b.v00", "b"), Module("new.v00", "n"), Module("a.v00", "a")}));
  EXPECT_TRUE(diff.reordered);
  EXPECT_THAT(diff.added, ElementsAre(Named("new.v00")));
  EXPECT_THAT(diff.changed, IsEmpty());
}

}  // namespace
}  // namespace midwife::imagebuilder
