#ifndef MIDWIFE_IMAGEBUILDER_HOST_RENDER_H_
#define MIDWIFE_IMAGEBUILDER_HOST_RENDER_H_

// What one host is handed at boot, rendered from an image and the host's
// identity. Pure and deterministic: the same inputs give the same bytes, so
// the output's digest serves as its ETag.
//
// URL layout the boot server serves (bootserver/boot_routes.h):
//   <server>/images/<manifest hex>/<module name>   modules of one image, by the
//                                                  names boot.cfg knows them by
//   <server>/boot/<mac-dashed>/boot.cfg            this host's boot.cfg
//   <server>/boot/<mac-dashed>/state.tgz           its newest state (ESXi)
//   <server>/boot/<mac-dashed>/state.cpio.gz       its newest state (Linux overlay)
//   <server>/hosts/<mac-dashed>/report|state       birth report, state upload
//
// ESXi boot.cfg: prefix= the image's module folder; kernelopt= the image's
// options, then the host's identity and where to report, as the early ESXi
// PXE prototypes did with PBHOST=host:port:
//   MIDWIFE_MAC=<mac> PBHOST=<host:port> MIDWIFE_TOKEN=<host token>
// modules= the image's modules in order, and last the host's state.tgz.

#include <optional>
#include <string>

#include "core/mac_address.h"
#include "imagebuilder/blob_digest.h"
#include "imagebuilder/image_manifest.h"

namespace midwife::imagebuilder {

enum class Firmware { kBios, kUefi };

struct HostBootContext {
  MacAddress mac;
  // "http://192.0.2.1:8080": no trailing slash.
  std::string server_url;
  std::string host_token;
  int bootstate = 0;  // ESXi bootstate of the bank being served (0-4)
  // Digest of the image's manifest: names its module folder.
  BlobDigest image_digest;
  // False when the host has no state yet: no state module is listed.
  bool has_state = true;
};

// "<server>/images/<hex>"
std::string ImageModuleFolderUrl(const HostBootContext& host);

// The host's boot.cfg (ESXi images).
std::string RenderHostBootCfg(const ImageManifest& image, const HostBootContext& host);

// The kernel command line the host gets: the image's options plus identity.
std::string HostKernelOptions(const ImageManifest& image, const HostBootContext& host);

// The host's iPXE script. ESXi: chain the image's mboot (mboot.efi on UEFI,
// mboot.c32 on BIOS) with -c <boot.cfg URL> when the image carries it; else
// multiboot kernel= and module lines straight from iPXE. Linux: kernel, the
// image's initrds, then the state overlay as the last initrd.
std::string RenderIpxeScript(const ImageManifest& image, const HostBootContext& host,
                             Firmware firmware);

// The first script a host gets from ProxyDHCP's URL: it asks again with what
// iPXE knows of the machine (platform, vendor, model, serial, SMBIOS UUID) as
// query parameters, so rules can match them (as Auto Deploy's patterns do).
std::string RenderIpxeDiscoveryScript(const std::string& script_url);

// A script for a host with nothing to boot: says why on the console and
// retries after `retry_seconds`, instead of failing the firmware.
std::string RenderIpxeRetryScript(const std::string& reason, int retry_seconds,
                                  const std::string& script_url);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_HOST_RENDER_H_
