#include "imagebuilder/host_render.h"

#include "absl/strings/str_cat.h"
#include "imagebuilder/boot_cfg.h"
#include "imagebuilder/boot_cfg_modules.h"

namespace midwife::imagebuilder {
namespace {

std::string HostPath(const HostBootContext& host) {
  return absl::StrCat(host.server_url, "/boot/", host.mac.ToDashed());
}

// "host:port" of the server URL, for PBHOST=.
std::string HostPort(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find('/', start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// iPXE reads its script line by line; a newline in a value would start a new
// command, so every value is folded onto one line.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

std::string ImageModuleFolderUrl(const HostBootContext& host) {
  return absl::StrCat(host.server_url, "/images/", host.image_digest.hex());
}

std::string HostKernelOptions(const ImageManifest& image, const HostBootContext& host) {
  std::string options = image.kernelopt;
  if (!options.empty()) options += " ";
  absl::StrAppend(&options, "MIDWIFE_MAC=", host.mac.ToString(), " PBHOST=",
                  HostPort(host.server_url), " MIDWIFE_TOKEN=", host.host_token);
  return OneLine(options);
}

std::string RenderHostBootCfg(const ImageManifest& image, const HostBootContext& host) {
  BootCfg cfg = ToBootCfg(image);
  cfg.bootstate = host.bootstate;
  cfg.prefix = ImageModuleFolderUrl(host);
  cfg.kernelopt = HostKernelOptions(image, host);
  if (host.has_state) {
    // Absolute (it has "://"), so the prefix does not apply to it.
    cfg.modules.push_back(BootModule{HostPath(host) + "/state.tgz", ""});
  }
  return RenderBootCfg(cfg);
}

std::string RenderIpxeScript(const ImageManifest& image, const HostBootContext& host,
                             Firmware firmware) {
  const std::string folder = ImageModuleFolderUrl(host);
  std::string script = "#!ipxe\n";
  absl::StrAppend(&script, "echo midwife: booting ", image.ref.ToString(), " on ",
                  host.mac.ToString(), "\n");
  if (image.kind == ImageKind::kLinux) {
    // On UEFI, iPXE before 1.21 (Debian 12 ships 2019's) hands the kernel's
    // EFI stub its initrds only through initrd=<image name> arguments (the
    // name is the URL's last segment); without them the kernel finds no root.
    std::string initrd_args;
    if (firmware == Firmware::kUefi) {
      for (const ImageModule& m : image.modules) absl::StrAppend(&initrd_args, " initrd=", m.name);
      if (host.has_state) initrd_args += " initrd=state.cpio.gz";
    }
    absl::StrAppend(&script, "kernel ", folder, "/", image.kernel.name, " ",
                    OneLine(HostKernelOptions(image, host)), initrd_args, "\n");
    for (const ImageModule& m : image.modules) absl::StrAppend(&script, "initrd ", folder, "/", m.name, "\n");
    if (host.has_state) absl::StrAppend(&script, "initrd ", HostPath(host), "/state.cpio.gz\n");
    script += "boot\n";
    return script;
  }
  // ESXi media carry mboot as mboot.c32 (BIOS, a COM32 module) and as
  // mboot.efi or efi/boot/bootx64.efi (UEFI); the importer keeps them as the
  // image's loaders. FindModule also finds one an older image (or a compose
  // --add) made a module, as before loaders existed.
  const auto find = [&image](std::string_view name) {
    const ImageModule* found = FindLoader(image, name);
    return found != nullptr ? found : FindModule(image, name);
  };
  const ImageModule* loader = find(firmware == Firmware::kUefi ? "mboot.efi" : "mboot.c32");
  if (loader == nullptr && firmware == Firmware::kUefi) loader = find("bootx64.efi");
  if (loader != nullptr) {
    absl::StrAppend(&script, "chain ", folder, "/", loader->name, " -c ", HostPath(host), "/boot.cfg\n");
    return script;
  }
  // No mboot in the image: iPXE loads the multiboot kernel and modules itself.
  absl::StrAppend(&script, "kernel ", folder, "/", image.kernel.name, " ",
                  OneLine(HostKernelOptions(image, host)), "\n");
  for (const ImageModule& m : image.modules) {
    absl::StrAppend(&script, "module ", folder, "/", m.name,
                    m.options.empty() ? "" : " ", OneLine(m.options), "\n");
  }
  if (host.has_state) absl::StrAppend(&script, "module ", HostPath(host), "/state.tgz\n");
  script += "boot\n";
  return script;
}

std::string RenderIpxeDiscoveryScript(const std::string& script_url) {
  return absl::StrCat(
      "#!ipxe\n",
      "chain ", script_url,
      "?platform=${platform}&manufacturer=${manufacturer:uristring}&product=${product:uristring}"
      "&serial=${serial:uristring}&uuid=${uuid}&ip=${ip}\n");
}

std::string RenderIpxeRetryScript(const std::string& reason, int retry_seconds,
                                  const std::string& script_url) {
  return absl::StrCat("#!ipxe\n", "echo midwife: ", OneLine(reason), "\n",
                      "echo midwife: retrying in ", retry_seconds, " s\n", "sleep ",
                      retry_seconds, "\n", "chain ", script_url, "\n");
}

}  // namespace midwife::imagebuilder
