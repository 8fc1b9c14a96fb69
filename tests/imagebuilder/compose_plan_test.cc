#include "imagebuilder/compose_plan.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

auto Named(const std::string& name) { return Field(&ImageModule::name, name); }

ImageManifest Base() {
  ImageManifest image;
  image.ref = {"esxi", "8.0u2"};
  image.created = "2024-01-01T00:00:00Z";
  image.kernelopt = "runweasel";
  image.kernel = {"b.b00", BlobDigest::Of("b"), 1, ""};
  image.modules = {{"k.b00", BlobDigest::Of("k"), 1, "ks=usb"},
                   {"s.v00", BlobDigest::Of("s"), 1, ""},
                   {"imgdb.tgz", BlobDigest::Of("i"), 1, ""}};
  image.loaders = {{"mboot.efi", BlobDigest::Of("m"), 1, ""}};
  return image;
}

const std::map<std::string, StoredBlob> kStored = {{"/tmp/nic.v00", {BlobDigest::Of("nic"), 7}},
                                                   {"drivers/s-new.v00", {BlobDigest::Of("s2"), 9}},
                                                   {"/tmp/k.b00", {BlobDigest::Of("k2"), 3}}};

absl::StatusOr<ImageManifest> Compose(const ComposeEdits& edits) {
  return PlanCompose(Base(), BlobDigest::Of("base manifest"), edits, kStored, {"esxi", "8.0u2-nic"},
                     "2024-02-02T00:00:00Z");
}

TEST(ComposeArguments, ParsesAddPositions) {
  const struct {
    std::string text;
    AddModule want;
  } kCases[] = {
      {"nic.v00", {"nic.v00", {}}},
      {"nic.v00@end", {"nic.v00", {}}},
      {"nic.v00@0", {"nic.v00", {ModulePosition::Kind::kIndex, 0, ""}}},
      {"dir/nic.v00@12", {"dir/nic.v00", {ModulePosition::Kind::kIndex, 12, ""}}},
      {"nic.v00@after:s.v00", {"nic.v00", {ModulePosition::Kind::kAfter, 0, "s.v00"}}},
      {"a@b.v00", {"a@b.v00", {}}},  // not a position: part of the file name
      {"a@b.v00@1", {"a@b.v00", {ModulePosition::Kind::kIndex, 1, ""}}},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    auto parsed = ParseAddModule(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, c.want);
  }
  EXPECT_FALSE(ParseAddModule("").ok());
  EXPECT_FALSE(ParseAddModule("@end").ok());
}

TEST(ComposeArguments, ParsesReplace) {
  EXPECT_EQ(*ParseReplaceModule("s.v00=./s-new.v00"), (ReplaceModule{"s.v00", "./s-new.v00"}));
  for (const char* bad : {"s.v00", "=x", "s.v00="}) {
    EXPECT_EQ(ParseReplaceModule(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PlanCompose, RecordsTheParentAndTheNewName) {
  auto image = Compose({});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->ref, (ImageRef{"esxi", "8.0u2-nic"}));
  EXPECT_EQ(image->created, "2024-02-02T00:00:00Z");
  ASSERT_TRUE(image->parent.has_value());
  EXPECT_EQ(image->parent->ref, (ImageRef{"esxi", "8.0u2"}));
  EXPECT_EQ(image->parent->digest, BlobDigest::Of("base manifest"));
  EXPECT_EQ(image->modules, Base().modules);
}

TEST(PlanCompose, CarriesTheParentsLoadersOverUnchanged) {
  ComposeEdits edits;
  edits.add = {{"/tmp/nic.v00", {}}};
  auto image = Compose(edits);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->loaders, Base().loaders);
}

TEST(PlanCompose, AddsAtTheEndAtAnIndexOrAfterAModule) {
  const struct {
    ModulePosition position;
    std::vector<std::string> want;
  } kCases[] = {
      {{}, {"k.b00", "s.v00", "imgdb.tgz", "nic.v00"}},
      {{ModulePosition::Kind::kIndex, 0, ""}, {"nic.v00", "k.b00", "s.v00", "imgdb.tgz"}},
      {{ModulePosition::Kind::kIndex, 3, ""}, {"k.b00", "s.v00", "imgdb.tgz", "nic.v00"}},
      {{ModulePosition::Kind::kAfter, 0, "S.V00"}, {"k.b00", "s.v00", "nic.v00", "imgdb.tgz"}},
      {{ModulePosition::Kind::kAfter, 0, "b.b00"}, {"nic.v00", "k.b00", "s.v00", "imgdb.tgz"}},
  };
  for (const auto& c : kCases) {
    auto image = Compose({.add = {{"/tmp/nic.v00", c.position}}});
    ASSERT_TRUE(image.ok()) << image.status();
    std::vector<std::string> names;
    for (const ImageModule& m : image->modules) names.push_back(m.name);
    EXPECT_EQ(names, c.want);
  }
  auto image = Compose({.add = {{"/tmp/nic.v00", {}}}});
  EXPECT_EQ(image->modules.back(), (ImageModule{"nic.v00", BlobDigest::Of("nic"), 7, ""}));
}

TEST(PlanCompose, ReplaceKeepsNameOptionsAndPlace) {
  auto image = Compose({.replace = {{"K.B00", "/tmp/k.b00"}, {"s.v00", "drivers/s-new.v00"}}});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->modules[0], (ImageModule{"k.b00", BlobDigest::Of("k2"), 3, "ks=usb"}));
  EXPECT_EQ(image->modules[1], (ImageModule{"s.v00", BlobDigest::Of("s2"), 9, ""}));
  auto kernel = Compose({.replace = {{"b.b00", "/tmp/k.b00"}}});
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  EXPECT_EQ(kernel->kernel.digest, BlobDigest::Of("k2"));
}

TEST(PlanCompose, RemovesThenReplacesThenAdds) {
  auto image = Compose({.remove = {"imgdb.tgz", "k.b00"},
                        .replace = {{"s.v00", "drivers/s-new.v00"}},
                        .add = {{"/tmp/nic.v00", {ModulePosition::Kind::kIndex, 0, ""}}}});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_THAT(image->modules, ElementsAre(Named("nic.v00"), Named("s.v00")));
}

TEST(PlanCompose, SetsThenAppendsKernelOptionsAndSetsTheTitle) {
  auto image = Compose({.kernelopt = "  a=1\tb=2 ", .append_kernelopt = "c=3", .title = "Vendor"});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->kernelopt, "a=1 b=2 c=3");
  EXPECT_EQ(image->title, "Vendor");
  EXPECT_EQ(Compose({.append_kernelopt = "x=1"})->kernelopt, "runweasel x=1");
}

TEST(PlanCompose, RefusesEditsThatDoNotFit) {
  const struct {
    ComposeEdits edits;
    absl::StatusCode code;
    std::string message;
  } kCases[] = {
      {{.remove = {"nope.v00"}},
       absl::StatusCode::kNotFound,
       "--remove nope.v00: esxi@8.0u2 has no module nope.v00"},
      {{.remove = {"b.b00"}}, absl::StatusCode::kInvalidArgument, "is the kernel; use --replace"},
      {{.replace = {{"nope.v00", "/tmp/k.b00"}}},
       absl::StatusCode::kNotFound,
       "has no module nope.v00"},
      {{.add = {{"/tmp/k.b00", {}}}},
       absl::StatusCode::kInvalidArgument,
       "already has a module k.b00; use --replace"},
      {{.add = {{"/tmp/nic.v00", {ModulePosition::Kind::kIndex, 4, ""}}}},
       absl::StatusCode::kInvalidArgument,
       "use 0-3"},
      {{.add = {{"/tmp/nic.v00", {ModulePosition::Kind::kAfter, 0, "x.v00"}}}},
       absl::StatusCode::kNotFound,
       "no module x.v00"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.message);
    auto image = Compose(c.edits);
    EXPECT_EQ(image.status().code(), c.code) << image.status();
    EXPECT_THAT(std::string(image.status().message()), HasSubstr(c.message));
  }
}

TEST(PlanCompose, ListsEachFileToStoreOnce) {
  ComposeEdits edits{.replace = {{"s.v00", "a.v00"}}, .add = {{"a.v00", {}}, {"b.v00", {}}}};
  EXPECT_EQ(FilesToStore(edits), (std::vector<std::string>{"a.v00", "b.v00"}));
}

}  // namespace
}  // namespace midwife::imagebuilder
