// libFuzzer target: the boot.cfg codec (imagebuilder/boot_cfg.h). Checks,
// beyond "no crash", the contract RenderBootCfg states: for every x that
// ParseBootCfg returns, ParseBootCfg(RenderBootCfg(x)) == x; and rendering
// is canonical (rendering the re-parsed value gives the same text).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imagebuilder/boot_cfg.h"

namespace ib = midwife::imagebuilder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = ib::ParseBootCfg(text);
  if (!cfg.ok()) return 0;
  std::string rendered = ib::RenderBootCfg(*cfg);
  auto again = ib::ParseBootCfg(rendered);
  if (!again.ok() || !(*again == *cfg)) std::abort();
  if (ib::RenderBootCfg(*again) != rendered) std::abort();
  for (const auto& module : cfg->modules) {
    (void)ib::ResolveModulePath(*cfg, module.path, "/bootbank");
  }
  (void)ib::ResolveModulePath(*cfg, cfg->kernel, "");
  (void)ib::FindLoaderOption(*cfg, "autoPartition");
  return 0;
}
