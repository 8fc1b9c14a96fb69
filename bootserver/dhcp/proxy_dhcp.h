#ifndef MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_H_
#define MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_H_

// ProxyDHCP (PXE 2.1 spec §2.2.5, RFC 4578): the site's DHCP server gives the
// address, this server only says what to boot. A pure function of request and
// policy, no I/O; thread-safe if the policy's hook is.
//
// What gets an answer (anything else gets none, see MakeProxyReply):
//   port 67:   DISCOVER -> OFFER; REQUEST naming this server in option 54 ->
//              ACK (a REQUEST naming another server selects that server's
//              lease and is not ours).
//   port 4011: REQUEST -> ACK (PXE boot server request, sent unicast after
//              the client has its address).
// and only from a PXE or HTTP boot client: option 60 starting "PXEClient"
// or "HTTPClient", Ethernet chaddr with a unicast MAC, and a known
// architecture (option 93, or the Arch field of option 60).
//
// The reply (pixiecore does the same):
// - op BOOTREPLY; xid, flags, htype, hlen, chaddr and giaddr copied; yiaddr
//   0.0.0.0 (never an address); ciaddr copied; siaddr = server (next server).
// - options: 53 OFFER/ACK, 54 server address, 60 "PXEClient" (or
//   "HTTPClient" for HTTP boot, which UEFI requires to accept the offer),
//   97 copied from the request when present (the PXE spec wants it echoed),
//   43 with PXE discovery control = 8 (boot the named file at once: no
//   discovery, no menu) for PXEClient replies, 67 = the boot file.
// - the boot file is also in the file field when it fits (127 bytes): older
//   PXE ROMs read only the field, UEFI and iPXE read option 67 first.
// - Boot file: a client that is already iPXE (user class "iPXE" or option
//   175) gets the HTTP URL of its own script, by default
//   http://<server>:<http_port>/boot/<mac-dashed>/boot.ipxe, so it never
//   chainloads iPXE again. Otherwise PlanBoot (client_arch.h) by
//   architecture: a TFTP file name, or for HTTP boot the URL
//   http://<server>:<http_port>/<file> (the HTTP shell serves the iPXE
//   binaries at its root under the TFTP names).
//
// Where the shell sends the reply (RFC 2131 §4.1), see ReplyDestination.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "bootserver/dhcp/client_arch.h"
#include "bootserver/dhcp/dhcp_codec.h"
#include "core/mac_address.h"

namespace midwife::bootserver::dhcp {

inline constexpr uint16_t kDhcpServerPort = 67;
inline constexpr uint16_t kDhcpClientPort = 68;
inline constexpr uint16_t kPxeServerPort = 4011;

// Which socket the request came in on.
enum class ProxyPort { kDhcp67, kPxe4011 };

struct ProxyPolicy {
  Ipv4Address server{};     // this server's address on the client's network
  uint16_t http_port = 80;  // for the default script URL and HTTP boot URLs
  BootFiles boot_files;
  // The iPXE script URL of a host; when empty the default above is used.
  std::function<std::string(const MacAddress&)> ipxe_script_url;
};

struct ReplyDestination {
  enum class Kind {
    // giaddr is set: unicast to the relay agent at giaddr:67, from port 67.
    kRelay,
    // A request to port 4011: unicast back to the request's source address
    // and port (the client has its address by then).
    kRequestSource,
    // ciaddr is set: unicast to ciaddr:68.
    kClient,
    // Otherwise: 255.255.255.255:68. The client has no address yet and the
    // proxy has none to give, so it cannot unicast even if the broadcast
    // flag is clear.
    kBroadcast,
  };
  Kind kind = Kind::kBroadcast;
  Ipv4Address address{};  // for kRelay and kClient; for kRequestSource use the source
  uint16_t port = kDhcpClientPort;
};

struct ProxyReply {
  DhcpPacket packet;
  ReplyDestination destination;
  MacAddress mac;
  std::string boot;  // the file or URL handed out, for the log
};

// The reply to send, or a status saying why none is sent, for the log:
//   FAILED_PRECONDITION: not for us (not a PXE client, wrong message type for
//     the port, a REQUEST for another server, a reply packet);
//   INVALID_ARGUMENT: a PXE client with a broken request (no architecture,
//     non-Ethernet or multicast chaddr);
//   NOT_FOUND: no boot file for the client's architecture (e.g. ARM64 with
//     Debian's x86-only iPXE).
// Never fails for another reason: every non-OK result means "send nothing".
absl::StatusOr<ProxyReply> MakeProxyReply(const DhcpPacket& request, ProxyPort port,
                                          const ProxyPolicy& policy);

// "http://<server>:<port>/boot/<mac-dashed>/boot.ipxe".
std::string DefaultIpxeScriptUrl(const Ipv4Address& server, uint16_t http_port,
                                 const MacAddress& mac);

}  // namespace midwife::bootserver::dhcp

#endif  // MIDWIFE_BOOTSERVER_DHCP_PROXY_DHCP_H_
