#ifndef MIDWIFE_TESTS_IMAGEBUILDER_TEST_MEDIA_H_
#define MIDWIFE_TESTS_IMAGEBUILDER_TEST_MEDIA_H_

// Import sources made by the tests themselves: ISO 9660 images (libarchive's
// writer, plain ISO 9660 names like an ESXi installer's: upper-case 8.3, no
// Rock Ridge, no Joliet), tarballs and folders; and counting what a
// repository's blob folder holds.

#include <cstdint>
#include <map>
#include <string>

namespace midwife::imagebuilder::testing {

// path in the source -> contents.
using Files = std::map<std::string, std::string>;

// A small ESXi-like installer: BOOT.CFG naming /b.b00 (kernel), /jumpstrt.gz,
// /k.b00 (with options ks=usb) and /s.v00, each file a few KiB of distinct
// bytes derived from `seed`.
Files EsxiInstallerFiles(const std::string& seed = "esxi");
// The boot.cfg of EsxiInstallerFiles.
inline constexpr char kEsxiBootCfg[] =
    "bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\n"
    "kernelopt=runweasel cdromBoot\nmodules=/jumpstrt.gz --- /k.b00 ks=usb --- /s.v00\n"
    "build=8.0.2-0.0.22380479\nupdated=0\n";

// `size` bytes that depend on `seed`.
std::string PseudoRandomBytes(const std::string& seed, size_t size);

// link path -> target path: a second name for the target's bytes.
using Links = std::map<std::string, std::string>;

// Writes an ISO 9660 image; fails the test on error (wrap in
// ASSERT_NO_FATAL_FAILURE to stop). `links` share their target's extent, as
// mkisofs does for files with the same bytes.
void WriteIso(const std::string& path, const Files& files, const Links& links = {});
// Writes a tarball; gzip'd when `gzip`.
void WriteTarball(const std::string& path, const Files& files, bool gzip);
// Creates the files (and their folders) under `dir`.
void WriteFolder(const std::string& dir, const Files& files);

struct BlobCount {
  size_t files = 0;
  uint64_t bytes = 0;
  size_t temporaries = 0;
};
// What <repo>/blobs/sha256 holds.
BlobCount CountBlobs(const std::string& repo);

}  // namespace midwife::imagebuilder::testing

#endif  // MIDWIFE_TESTS_IMAGEBUILDER_TEST_MEDIA_H_
