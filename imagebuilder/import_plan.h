#ifndef MIDWIFE_IMAGEBUILDER_IMPORT_PLAN_H_
#define MIDWIFE_IMAGEBUILDER_IMPORT_PLAN_H_

// Which file of a source (ISO, folder, tarball) describes the image, and which
// file each module it names comes from. Pure: works on a listing of the source,
// so it is decided, and every missing module reported, before a byte is stored.
//
// The descriptor, first found in this order:
//   esxi:   boot.cfg, efi/boot/boot.cfg
//   linux:  linux.cfg, boot.cfg, efi/boot/boot.cfg
// linux.cfg is boot.cfg syntax read by the same codec (boot_cfg.h), with the
// same keys in their Linux sense:
//   kernel=vmlinuz
//   modules=base.cpio.gz --- extra.cpio.gz     the initrds, in load order
//   kernelopt=console=ttyS0 quiet              the kernel command line
//   title=Stand-in host                        optional
//
// Source paths are compared as ISO 9660 does (an installer ISO holds `B.B00;1`
// where boot.cfg says `/b.b00`): folders ignoring ASCII case, the file name with
// SameModuleName. A path boot.cfg names is looked for:
//   1. where the loader would open it (ResolveModulePath; absolute paths start
//      at the source's root), unless that is a URL;
//   2. else by file name in the descriptor's folder;
//   3. else by file name at the source's root.
// (2 and 3 find the files of a boot.cfg whose prefix= named its old server.)
//
// An esxi import also takes the boot loaders boot.cfg does not name, when the
// source has them (missing ones are no error: the iPXE script then loads the
// modules itself, which iPXE can do on BIOS only):
//   mboot.c32, mboot.efi   in the descriptor's folder, at the root, in efi/boot/
//   efi/boot/bootx64.efi   stored as bootx64.efi (the UEFI mboot of ESXi media)

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/boot_cfg.h"
#include "imagebuilder/image_manifest.h"

namespace midwife::imagebuilder {

// A regular file of a source.
struct SourceEntry {
  std::string path;  // relative to the source's root, '/'-separated, no leading '/'
  uint64_t size = 0;
  // For a hard link in an archive: the path of the entry holding its bytes.
  std::string link_target;
};

// True for paths that may be a descriptor (any kind): the source keeps their
// text while listing, so that planning needs no extra pass over an archive.
bool IsDescriptorPath(std::string_view path);

// True when source paths `a` and `b` name the same file (rules above).
bool SameSourcePath(std::string_view a, std::string_view b);

struct PlannedModule {
  std::string name;         // file name as boot.cfg writes it: "b.b00"
  std::string options;      // per-module options
  std::string source_path;  // the entry holding the bytes (a link's target)
  uint64_t size = 0;
};

struct ImportPlan {
  std::string descriptor_path;  // as found in the source
  BootCfg cfg;
  PlannedModule kernel;
  std::vector<PlannedModule> modules;
  std::vector<PlannedModule> loaders;  // found ones only; no options
  uint64_t total_bytes = 0;  // of the files to store, each counted once
};

// Plans the import of `entries`, given the text of the descriptors found among
// them (path -> text). `source_name` prefixes errors. Errors:
//   NOT_FOUND         no descriptor; or files it names are absent (all listed)
//   INVALID_ARGUMENT  descriptor unreadable, no kernel, bad or duplicate names
absl::StatusOr<ImportPlan> PlanImport(ImageKind kind, std::string_view source_name,
                                      const std::vector<SourceEntry>& entries,
                                      const std::map<std::string, std::string>& descriptors);

// The image, once each planned source path has been stored (`stored` has one
// entry per source path of the plan).
ImageManifest MakeImportedImage(const ImportPlan& plan, const ImageRef& ref, ImageKind kind,
                                std::string created,
                                const std::map<std::string, StoredBlob>& stored);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMPORT_PLAN_H_
