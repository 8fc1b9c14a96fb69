// libFuzzer target: the DHCP codec (bootserver/dhcp/dhcp_codec.h), the
// option readers (dhcp_options.h) and the ProxyDHCP decision a parsed request
// flows into (proxy_dhcp.h), on both ports. Checks, beyond "no crash": what
// Parse accepts serializes (when its strings fit) and parses back equal.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "bootserver/dhcp/client_arch.h"
#include "bootserver/dhcp/dhcp_codec.h"
#include "bootserver/dhcp/dhcp_options.h"
#include "bootserver/dhcp/proxy_dhcp.h"

namespace dhcp = midwife::bootserver::dhcp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto packet = dhcp::Parse(std::span<const uint8_t>(data, size));
  if (!packet.ok()) return 0;
  (void)dhcp::VendorClassStartsWith(*packet, dhcp::kPxeClient);
  auto arch = dhcp::ClientArchitecture(*packet);
  if (arch) (void)dhcp::ClientArchName(*arch);
  (void)dhcp::IsIpxeClient(*packet);
  (void)packet->message_type();

  dhcp::ProxyPolicy policy;
  policy.server = {192, 0, 2, 1};
  policy.http_port = 8080;
  for (auto port : {dhcp::ProxyPort::kDhcp67, dhcp::ProxyPort::kPxe4011}) {
    auto reply = dhcp::MakeProxyReply(*packet, port, policy);
    if (reply.ok()) {
      // Our own reply must always be something we can send and read back.
      auto bytes = dhcp::Serialize(reply->packet);
      if (!bytes.ok()) std::abort();
      if (!dhcp::Parse(*bytes).ok()) std::abort();
    }
  }

  // sname and file are read up to their first NUL, so after Parse they fit;
  // options come back merged (RFC 3396), so the round trip is exact.
  auto bytes = dhcp::Serialize(*packet);
  if (!bytes.ok()) return 0;  // e.g. merged options past kMaxDhcpPacketBytes
  auto again = dhcp::Parse(*bytes);
  if (!again.ok() || !(*again == *packet)) std::abort();
  return 0;
}
