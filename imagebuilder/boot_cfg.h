#ifndef MIDWIFE_IMAGEBUILDER_BOOT_CFG_H_
#define MIDWIFE_IMAGEBUILDER_BOOT_CFG_H_

// boot.cfg: the file ESXi's boot loader (mboot) reads to learn its kernel,
// kernel command line and modules, and that safeboot reads and rewrites for
// the boot bank state. The one boot.cfg codec of the project: importing an
// ISO, composing an image and rendering a host's boot.cfg all go through it.
// Pure functions, no I/O, safe to call from any thread.
//
// Format, mirroring mboot's reader (vmware/esx-boot bootlib/parse.c,
// mboot/config.c, safeboot/config.c):
// - The text is split on '\n'. In each line every run of white space folds to
//   one space and the ends are trimmed (so CRLF and tabs are fine).
// - Empty lines and lines starting with '#' are ignored; a '#' further on is data.
// - The first '=' splits key and value; spaces around it are ignored (mboot's
//   parse.c means to, but only skips those after it: RenderBootCfg writes none).
// - Keys are case-insensitive. A repeated key: the last value wins.
// - Known keys: bootstate title timeout prefix kernel kernelopt modules build
//   updated, and the loader options of kLoaderOptionKeys. Other keys are kept
//   and passed through, in the order they first appear.
// - modules= is a "---" separated list (see boot_cfg_modules.h).
// - Integer keys hold decimal digits after an optional '-'; an empty value
//   reads as 0, as the loader reads it. A non-number fails the whole file, in
//   mboot as here.
//
// Where this reader is stricter than mboot, it refuses what mboot would
// silently misread, so that what we model is what the host boots:
// - a line without '=' (mboot skips it) and an empty key;
// - an unknown key that abbreviates a known one: mboot compares only the
//   length of the key written, so "kern=" sets the kernel and "boot=" the
//   bank state;
// - an integer out of the range the loader acts on.
// Errors are INVALID_ARGUMENT naming the line:
//   "boot.cfg line 7: bootstate must be 0-4, got 9".

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {

// Real files are a few KiB even with well over 100 modules; anything this
// large is not a boot.cfg.
inline constexpr size_t kMaxBootCfgBytes = 1 << 20;

// safeboot rewrites the bootstate digit in place and reads only the first
// 512 bytes to find it: RenderBootCfg puts bootstate= on the first line.
inline constexpr size_t kBootstateWindowBytes = 512;
inline constexpr int kMaxBootstate = 4;

// The loader's own options (mboot), then safeboot's quickboot, in render order.
inline constexpr std::array<std::string_view, 12> kLoaderOptionKeys = {
    "nobootif",    "noquirks",   "norts", "crypto",     "runtimewd",  "runtimewdtimeout",
    "tftpblksize", "acpitables", "skip",  "errtimeout", "nativehttp", "quickboot"};

struct BootCfg {
  // Bank state: 0 success, 1 updated, 2 attempted, 3 empty, 4 staged (ESXi's
  // esximage names; safeboot itself rewrites only 0-3).
  std::optional<int> bootstate;
  std::string title;
  std::optional<int> timeout;  // seconds
  // Folder relative paths resolve under; "" means the folder of boot.cfg.
  std::string prefix;
  std::string kernel;  // a path, as written
  // Text after the kernel path on the kernel= line. mboot itself would fold it
  // into the path; it is kept so that such a file renders back unchanged.
  std::string kernel_options;
  std::string kernelopt;  // the kernel command line
  std::vector<BootModule> modules;
  std::string build;               // e.g. "8.0.2-0.0.22380479"
  std::optional<int64_t> updated;  // bank generation: safeboot boots the higher
  // Loader options present in the file: lower-case keys in kLoaderOptionKeys
  // order, integer values in canonical decimal.
  std::vector<std::pair<std::string, std::string>> loader_options;
  // Keys this codec does not know, spelled as first seen, in first-seen order,
  // each once with its last value.
  std::vector<std::pair<std::string, std::string>> unknown;

  friend bool operator==(const BootCfg&, const BootCfg&) = default;
};

// Parses boot.cfg text. Empty string fields mean "not set", as in the loader.
// Returns INVALID_ARGUMENT naming the line and the value for the cases listed
// above, or when `text` is larger than kMaxBootCfgBytes.
absl::StatusOr<BootCfg> ParseBootCfg(std::string_view text);

// Renders `cfg` canonically: one `key=value` line each, '\n' line ends, in the
// order bootstate, title, timeout, prefix, kernel, kernelopt, modules, build,
// updated, loader options (kLoaderOptionKeys order), unknown keys (in order).
// Empty strings and unset integers are left out. Values are white-space folded,
// so no value can start a line of its own.
// For every `x` that ParseBootCfg returned: ParseBootCfg(RenderBootCfg(x)) == x.
// REQUIRES (true of whatever ParseBootCfg returns): module items as
// RenderModuleList requires; `kernel` without white space; unknown keys
// non-empty, without '=', not starting with '#', neither known keys nor
// abbreviations of them.
std::string RenderBootCfg(const BootCfg& cfg);

// The path the loader opens for `path` (a module or the kernel) of `cfg`, whose
// boot.cfg lies in `bootcfg_dir`. See ResolveBootPath.
std::string ResolveModulePath(const BootCfg& cfg, std::string_view path,
                              std::string_view bootcfg_dir);

// The value of loader option `key` (any case), or nullopt when absent.
std::optional<std::string> FindLoaderOption(const BootCfg& cfg, std::string_view key);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_BOOT_CFG_H_
