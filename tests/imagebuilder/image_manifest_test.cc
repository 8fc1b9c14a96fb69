#include "imagebuilder/image_manifest.h"

#include <nlohmann/json.hpp>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/image_ref.h"
#include "imagebuilder/oci_format.h"

namespace midwife::imagebuilder {
namespace {

using ::testing::HasSubstr;

ImageManifest Sample() {
  ImageManifest image;
  image.ref = {"esxi", "8.0u2-nic"};
  image.kind = ImageKind::kEsxi;
  image.created = "2024-01-31T12:00:00Z";
  image.parent = ParentImage{{"esxi", "8.0u2"}, BlobDigest::Of("parent")};
  image.title = "Loading ESXi";
  image.timeout = 5;
  image.kernelopt = "runweasel cdromBoot";
  image.build = "8.0.2-0.0.22380479";
  image.kernel = {"b.b00", BlobDigest::Of("b"), 6000, "-c boot.cfg"};
  image.modules = {{"k.b00", BlobDigest::Of("k"), 5000, "ks=usb"},
                   {"s.v00", BlobDigest::Of("s"), 7000, ""}};
  image.loader_options = {{"nobootif", "1"}};
  image.unknown_keys = {{"Vendor", "x"}};
  return image;
}

absl::StatusOr<ImageManifest> RoundTrip(const ImageManifest& image) {
  const EncodedImage encoded = EncodeImage(image);
  absl::StatusOr<OciManifest> manifest = ParseOciManifest(encoded.manifest);
  if (!manifest.ok()) return manifest.status();
  return DecodeImage(*manifest, encoded.config);
}

TEST(BlobDigest, ParsesOnlySha256WithSixtyFourHexDigits) {
  const std::string hex(64, 'a');
  EXPECT_EQ(BlobDigest::Parse("sha256:" + hex)->hex(), hex);
  EXPECT_EQ(BlobDigest::Parse("sha256:" + std::string(64, 'A'))->hex(), hex);
  for (const std::string& bad :
       {"sha256:" + hex.substr(1), "sha512:" + hex, hex, "sha256:" + std::string(63, 'a') + "g",
        "sha256:../../../../etc/passwd" + std::string(36, 'a')}) {
    EXPECT_EQ(BlobDigest::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(BlobDigest::Of("").ToString(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ImageRef, ParsesNameAtVersion) {
  EXPECT_EQ(*ParseImageRef("esxi@8.0u2-vendor_1"), (ImageRef{"esxi", "8.0u2-vendor_1"}));
  EXPECT_EQ(ParseImageRef("esxi@8.0u2")->ToOciRefName(), "esxi:8.0u2");
  EXPECT_EQ(*ParseOciRefName("esxi:8.0u2"), (ImageRef{"esxi", "8.0u2"}));
  for (const char* bad :
       {"esxi", "@1", "esxi@", "es/xi@1", "esxi@1@2", "esxi@.1", "-x@1", "esxi@a b", "esxi:1"}) {
    EXPECT_EQ(ParseImageRef(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(ParseImageRef("esxi").status().message()),
              HasSubstr("expected NAME@VERSION"));
  EXPECT_FALSE(ParseImageRef("a@" + std::string(129, 'v')).ok());
}

TEST(ImageManifest, RoundTripsThroughManifestAndConfigBlobs) {
  const ImageManifest image = Sample();
  absl::StatusOr<ImageManifest> decoded = RoundTrip(image);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, image);

  ImageManifest minimal;
  minimal.ref = {"linux", "1"};
  minimal.kind = ImageKind::kLinux;
  minimal.kernel = {"vmlinuz", BlobDigest::Of("v"), 1, ""};
  decoded = RoundTrip(minimal);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, minimal);
}

TEST(ImageManifest, EncodesAsAnOciImageManifestAnyRegistryCanCarry) {
  const EncodedImage encoded = EncodeImage(Sample());
  EXPECT_EQ(EncodeImage(Sample()).manifest, encoded.manifest);  // same content, same digest
  const nlohmann::json manifest = nlohmann::json::parse(encoded.manifest);
  EXPECT_EQ(manifest["schemaVersion"], 2);
  EXPECT_EQ(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(manifest["config"]["mediaType"], "application/vnd.midwife.image.config.v1+json");
  EXPECT_EQ(manifest["config"]["digest"], BlobDigest::Of(encoded.config).ToString());
  EXPECT_EQ(manifest["config"]["size"], encoded.config.size());
  ASSERT_EQ(manifest["layers"].size(), 3u);
  EXPECT_EQ(manifest["layers"][0]["mediaType"], "application/vnd.midwife.boot.kernel.v1");
  EXPECT_EQ(manifest["layers"][1]["mediaType"], "application/vnd.midwife.boot.module.v1");
  EXPECT_EQ(manifest["layers"][1]["digest"], BlobDigest::Of("k").ToString());
  EXPECT_EQ(manifest["layers"][1]["size"], 5000);
  EXPECT_EQ(manifest["layers"][1]["annotations"]["org.opencontainers.image.title"], "k.b00");
  EXPECT_EQ(manifest["layers"][1]["annotations"]["dev.midwife.module.options"], "ks=usb");
  EXPECT_FALSE(manifest["layers"][2].contains("annotations") &&
               manifest["layers"][2]["annotations"].contains("dev.midwife.module.options"));
  EXPECT_EQ(manifest["annotations"]["org.opencontainers.image.created"], "2024-01-31T12:00:00Z");

  const nlohmann::json config = nlohmann::json::parse(encoded.config);
  EXPECT_EQ(config["name"], "esxi");
  EXPECT_EQ(config["kind"], "esxi");
  EXPECT_EQ(config["parent"]["ref"], "esxi@8.0u2");
  EXPECT_EQ(config["boot"]["kernelopt"], "runweasel cdromBoot");
}

TEST(ImageManifest, DecodeRefusesWhatItCannotServe) {
  const EncodedImage encoded = EncodeImage(Sample());
  OciManifest manifest = *ParseOciManifest(encoded.manifest);

  OciManifest wrong_config = manifest;
  wrong_config.config.media_type = "application/vnd.oci.image.config.v1+json";
  EXPECT_THAT(std::string(DecodeImage(wrong_config, encoded.config).status().message()),
              HasSubstr("config.mediaType"));
  OciManifest no_title = manifest;
  no_title.layers[1].annotations.clear();
  EXPECT_THAT(std::string(DecodeImage(no_title, encoded.config).status().message()),
              HasSubstr("layers[1].annotations"));
  OciManifest kernel_as_module = manifest;
  kernel_as_module.layers[0].media_type = std::string(kModuleMediaType);
  EXPECT_FALSE(DecodeImage(kernel_as_module, encoded.config).ok());
  OciManifest duplicate = manifest;
  duplicate.layers[2].annotations[std::string(kTitleAnnotation)] = "K.B00";
  EXPECT_THAT(std::string(DecodeImage(duplicate, encoded.config).status().message()),
              HasSubstr("appears twice"));
  EXPECT_FALSE(DecodeImage(manifest, "{\"name\":\"esxi\"}").ok());
  EXPECT_FALSE(DecodeImage(manifest, "not json").ok());
}

TEST(OciFormat, ParsesIndexAndRefusesMalformedDocuments) {
  OciIndex index;
  index.manifests.push_back({std::string(kManifestMediaType),
                             BlobDigest::Of("m"),
                             10,
                             {{std::string(kRefNameAnnotation), "esxi:8.0u2"}}});
  EXPECT_EQ(*ParseOciIndex(RenderOciIndex(index)), index);
  const struct {
    const char* text;
    const char* message;
  } kCases[] = {
      {"[]", "expected a JSON object"},
      {"{", "not valid JSON"},
      {R"({"schemaVersion":1,"manifests":[]})", "schemaVersion"},
      {R"({"schemaVersion":2})", "manifests"},
      {R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"md5:1","size":1}]})",
       "manifests[0].digest"},
      {R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:)"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":-1}]}",
       "manifests[0].size"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    EXPECT_THAT(std::string(ParseOciIndex(c.text).status().message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(CheckOciLayout(RenderOciLayout()).ok());
  EXPECT_FALSE(CheckOciLayout(R"({"imageLayoutVersion":"2.0.0"})").ok());
}

TEST(ImageManifest, SameContentIgnoresOnlyTheCreationTime) {
  ImageManifest later = Sample();
  later.created = "2030-01-01T00:00:00Z";
  EXPECT_TRUE(SameContent(Sample(), later));
  later.modules[1].options = "x";
  EXPECT_FALSE(SameContent(Sample(), later));
}

TEST(ImageManifest, RendersAsABootCfgWithRelativeNames) {
  EXPECT_EQ(
      RenderBootCfg(ToBootCfg(Sample())),
      "title=Loading ESXi\ntimeout=5\nkernel=b.b00 -c boot.cfg\nkernelopt=runweasel cdromBoot\n"
      "modules=k.b00 ks=usb --- s.v00\nbuild=8.0.2-0.0.22380479\nnobootif=1\nVendor=x\n");
}

TEST(ImageManifest, ValidatesModuleNames) {
  for (const char* good : {"b.b00", "ESX_UI.V00", "a-b.tgz"})
    EXPECT_TRUE(ValidateModuleName(good).ok()) << good;
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a b", "a/b", "a\\b",
                                                         "a---b", std::string(256, 'x')}) {
    EXPECT_FALSE(ValidateModuleName(bad).ok()) << bad;
  }
}

TEST(ImageManifest, LoadersTravelAsTrailingLayersAndStayOutOfBootCfg) {
  ImageManifest image = Sample();
  image.loaders = {{"mboot.efi", BlobDigest::Of("me"), 300, ""},
                   {"bootx64.efi", BlobDigest::Of("bx"), 200, ""}};
  absl::StatusOr<ImageManifest> decoded = RoundTrip(image);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, image);
  const EncodedImage encoded = EncodeImage(image);
  absl::StatusOr<OciManifest> manifest = ParseOciManifest(encoded.manifest);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_EQ(manifest->layers.size(), 5u);
  EXPECT_EQ(manifest->layers[3].media_type, kLoaderMediaType);
  EXPECT_EQ(RenderBootCfg(ToBootCfg(image)), RenderBootCfg(ToBootCfg(Sample())));
  EXPECT_EQ(TotalBytes(image), TotalBytes(Sample()) + 500);
  EXPECT_EQ(FindModule(image, "MBOOT.EFI"), &image.loaders[0]);
  EXPECT_FALSE(SameContent(Sample(), image));

  // A module after a loader, or a loader named like a module, is refused.
  OciManifest module_last = *manifest;
  module_last.layers[4].media_type = std::string(kModuleMediaType);
  EXPECT_FALSE(DecodeImage(module_last, encoded.config).ok());
  image.loaders[1].name = "S.V00";
  EXPECT_FALSE(ValidateImage(image).ok());
}

TEST(ImageManifest, FormatsCreationTimeAsRfc3339Utc) {
  EXPECT_EQ(FormatCreated(std::chrono::system_clock::from_time_t(0)), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace midwife::imagebuilder
