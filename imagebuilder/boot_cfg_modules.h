#ifndef MIDWIFE_IMAGEBUILDER_BOOT_CFG_MODULES_H_
#define MIDWIFE_IMAGEBUILDER_BOOT_CFG_MODULES_H_

// The module list of boot.cfg (`modules=`, and the same syntax in
// `acpitables=`) and the path rules the ESXi loader applies to its items.
// Pure functions, no I/O, safe to call from any thread.
//
// List syntax, as mboot's reader takes it (vmware/esx-boot mboot/config.c,
// find_next_listitem and parse_filelist; bootlib/string.c make_path):
//   modules=/b.b00 ks=usb --- /jumpstrt.gz --- k.b00---s.v00
// - Items are separated by "---" wherever it appears, spaces around it optional.
//   Empty items ("--- ---") are skipped.
// - An item is a path (up to the first white space) and an optional option
//   string (the rest, white space folded), which the loader hands to that module.
// - A path is absolute when it starts with '/' or '\' or contains "://"
//   (an URL); otherwise it is relative to `prefix=`, or, with no prefix, to the
//   folder holding boot.cfg.

#include <string>
#include <string_view>
#include <vector>

namespace midwife::imagebuilder {

inline constexpr std::string_view kModuleSeparator = "---";

struct BootModule {
  // As written: relative, absolute or an URL. Never empty, holds no white
  // space and no "---" (the list syntax has no way to quote them).
  std::string path;
  // Per-module options ("ks=usb" after "/b.b00" in ESXi 5.x installers);
  // white space folded, "" when there are none.
  std::string options;

  friend bool operator==(const BootModule&, const BootModule&) = default;
};

// Folds every run of white space (C isspace, so the '\r' of a CRLF file too)
// to one space and trims both ends: the loader does this to every line before
// reading it, so two files that differ only there boot the same way.
std::string FoldWhiteSpace(std::string_view text);
// The same, appended to `out` (no string of its own per value).
void AppendFoldedWhiteSpace(std::string& out, std::string_view text);
// Whether FoldWhiteSpace would leave `text` as it is.
bool IsFoldedWhiteSpace(std::string_view text);

// ASCII case-insensitive equality, as the loader compares keys and as FAT and
// ISO 9660 compare names. (On std::string_view: Debian's Abseil has its own.)
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Splits a `modules=` value into items. Never fails: any text is a list.
std::vector<BootModule> ParseModuleList(std::string_view value);

// Joins items with " --- ". REQUIRES: every item as ParseModuleList returns
// them (path non-empty, no white space or "---" in the path, no "---" in the
// options); then ParseModuleList(RenderModuleList(m)) == m.
std::string RenderModuleList(const std::vector<BootModule>& modules);
// The same, appended to `out`.
void AppendModuleList(std::string& out, const std::vector<BootModule>& modules);
// At least the bytes RenderModuleList(modules) takes, to reserve.
size_t ModuleListBytes(const std::vector<BootModule>& modules);

// True when the loader takes `path` as is instead of under a prefix.
bool IsAbsoluteBootPath(std::string_view path);

// The path the loader opens for `path`: `path` itself when absolute, else
// `prefix + "/" + path`, or `bootcfg_dir + "/" + path` when `prefix` is empty,
// or `path` alone when both are empty. Like mboot, '\' becomes '/' and runs of
// '/' fold to one, except the "//" of the first "://". `prefix` is used as
// written: a relative prefix (e.g. "esxi80" on a TFTP server) stays relative.
std::string ResolveBootPath(std::string_view prefix, std::string_view path,
                            std::string_view bootcfg_dir);

// True when `a` and `b` name the same file in the loader's eyes: ISO 9660
// images hold upper-case 8.3 names (`B.B00;1`) while boot.cfg says `/b.b00`.
// Compares the last path component (after '/' or '\'), ignoring ASCII case
// and an ISO 9660 version suffix (";1").
bool SameModuleName(std::string_view a, std::string_view b);

// What SameModuleName compares: the file name (no folders, no ";1" version
// suffix), lower-cased; "" when there is none. Two names are the same module
// exactly when their keys are equal and not empty.
std::string ModuleNameKey(std::string_view name);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_BOOT_CFG_MODULES_H_
