#include "imagebuilder/module_index.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace midwife::imagebuilder {
namespace {

ImageModule Named(const std::string& name) {
  ImageModule m;
  m.name = name;
  return m;
}

// Names as ESXi images carry them: upper and lower case, an ISO's ";1"
// version suffix, a folder, a name used twice (the first one wins), and a
// loader named like a module.
std::shared_ptr<const ImageManifest> Image() {
  auto image = std::make_shared<ImageManifest>();
  image->kernel = Named("b.b00");
  image->modules = {Named("jumpstrt.gz"), Named("S.V00"),   Named("efi/boot/sys.v00;1"),
                    Named("dup.v00"),     Named("DUP.V00"), Named("empty/")};
  image->loaders = {Named("mboot.c32"), Named("s.v00")};
  return image;
}

TEST(ModuleIndex, FindsWhatFindModuleFindsForEveryKindOfName) {
  const auto image = Image();
  const ModuleIndex index(image);
  const std::vector<std::string> queries = {
      "b.b00",   "B.B00",   "/b.b00",    "jumpstrt.gz", "JUMPSTRT.GZ;1",
      "s.v00",   "S.v00",   "sys.v00",   "SYS.V00",     "x/sys.v00",
      "dup.v00", "Dup.V00", "mboot.c32", "MBOOT.C32",   "missing.v00",
      "",        "/",       "empty",     "empty/",      "b.b0"};
  for (const std::string& q : queries) {
    EXPECT_EQ(index.Find(q), FindModule(*image, q)) << "query \"" << q << "\"";
  }
  // The lookups are not all misses: the table above would pass for an index
  // that finds nothing if FindModule found nothing too.
  EXPECT_EQ(index.Find("B.B00"), &image->kernel);
  EXPECT_EQ(index.Find("JUMPSTRT.GZ;1"), &image->modules[0]);
  EXPECT_EQ(index.Find("dup.v00"), &image->modules[3]);
  EXPECT_EQ(index.Find("s.v00"), &image->modules[1]);
  EXPECT_EQ(index.Find("mboot.c32"), &image->loaders[0]);
  EXPECT_EQ(index.Find("missing.v00"), nullptr);
}

}  // namespace
}  // namespace midwife::imagebuilder
