#include "bootserver/dhcp/proxy_dhcp.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bootserver/dhcp/dhcp_options.h"
#include "core/status_macros.h"

namespace midwife::bootserver::dhcp {
namespace {

constexpr size_t kMacBytes = 6;

absl::Status NotForUs(std::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("ProxyDHCP ignores: ", std::string(why)));
}

// The message type this proxy answers with, or why it does not answer.
absl::StatusOr<MessageType> ReplyType(const DhcpPacket& request, ProxyPort port,
                                      const ProxyPolicy& policy) {
  if (request.op != kBootRequest) return NotForUs("not a BOOTREQUEST");
  const std::optional<uint8_t> type = request.message_type();
  if (!type) return NotForUs("no DHCP message type (plain BOOTP)");
  if (port == ProxyPort::kDhcp67) {
    if (*type == static_cast<uint8_t>(MessageType::kDiscover)) return MessageType::kOffer;
    if (*type == static_cast<uint8_t>(MessageType::kRequest)) {
      const DhcpOption* server_id = request.FindOption(option::kServerId);
      if (server_id != nullptr && server_id->data.size() == 4 &&
          std::equal(policy.server.begin(), policy.server.end(), server_id->data.begin())) {
        return MessageType::kAck;
      }
      return NotForUs("REQUEST on port 67 for another DHCP server");
    }
    return NotForUs(absl::StrCat("message type ", *type, " on port 67"));
  }
  if (*type == static_cast<uint8_t>(MessageType::kRequest)) return MessageType::kAck;
  return NotForUs(absl::StrCat("message type ", *type, " on port 4011"));
}

absl::StatusOr<MacAddress> ClientMac(const DhcpPacket& request) {
  if (request.htype != kHtypeEthernet || request.hlen != kMacBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ProxyDHCP: hardware type ", request.htype,
                                                   " length ", request.hlen, " is not Ethernet"));
  }
  MacAddress::Bytes bytes;
  std::copy_n(request.chaddr.begin(), kMacBytes, bytes.begin());
  absl::StatusOr<MacAddress> mac = MacAddress::FromBytes(bytes);
  if (!mac.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ProxyDHCP: chaddr ",
                     absl::StrJoin(bytes, ":",
                                   [](std::string* out, uint8_t b) {
                                     absl::StrAppend(out, absl::Hex(b, absl::kZeroPad2));
                                   }),
                     ": ", mac.status().message()));
  }
  return mac;
}

ReplyDestination Destination(const DhcpPacket& request, ProxyPort port) {
  if (!IsZero(request.giaddr)) {
    return {ReplyDestination::Kind::kRelay, request.giaddr, kDhcpServerPort};
  }
  if (port == ProxyPort::kPxe4011) return {ReplyDestination::Kind::kRequestSource, {}, 0};
  if (!IsZero(request.ciaddr)) {
    return {ReplyDestination::Kind::kClient, request.ciaddr, kDhcpClientPort};
  }
  return {ReplyDestination::Kind::kBroadcast, {255, 255, 255, 255}, kDhcpClientPort};
}

// The file or URL this client boots, and whether it boots over HTTP.
absl::StatusOr<std::pair<std::string, bool>> ChooseBoot(const DhcpPacket& request,
                                                        const MacAddress& mac,
                                                        const ProxyPolicy& policy) {
  if (IsIpxeClient(request)) {
    return std::make_pair(policy.ipxe_script_url
                              ? policy.ipxe_script_url(mac)
                              : DefaultIpxeScriptUrl(policy.server, policy.http_port, mac),
                          false);
  }
  const std::optional<uint16_t> arch = ClientArchitecture(request);
  if (!arch) {
    return absl::InvalidArgumentError(
        absl::StrCat("ProxyDHCP: ", mac.ToString(), " sent no client architecture (option 93)"));
  }
  const BootPlan plan =
      PlanBoot(*arch, VendorClassStartsWith(request, kHttpClient), policy.boot_files);
  switch (plan.transport) {
    case BootPlan::Transport::kNone:
      return absl::NotFoundError(absl::StrCat("ProxyDHCP: ", mac.ToString(), ": ", plan.reason));
    case BootPlan::Transport::kTftp:
      return std::make_pair(plan.file, false);
    case BootPlan::Transport::kHttp:
      return std::make_pair(absl::StrCat("http://", Ipv4ToString(policy.server), ":",
                                         policy.http_port, "/", plan.file),
                            true);
  }
  return absl::InternalError("unreachable boot plan");
}

}  // namespace

std::string DefaultIpxeScriptUrl(const Ipv4Address& server, uint16_t http_port,
                                 const MacAddress& mac) {
  return absl::StrCat("http://", Ipv4ToString(server), ":", http_port, "/boot/", mac.ToDashed(),
                      "/boot.ipxe");
}

absl::StatusOr<ProxyReply> MakeProxyReply(const DhcpPacket& request, ProxyPort port,
                                          const ProxyPolicy& policy) {
  ASSIGN_OR_RETURN(const MessageType reply_type, ReplyType(request, port, policy));
  if (!VendorClassStartsWith(request, kPxeClient) && !VendorClassStartsWith(request, kHttpClient)) {
    return NotForUs("not a PXE client (option 60 is not PXEClient or HTTPClient)");
  }
  ASSIGN_OR_RETURN(MacAddress mac, ClientMac(request));
  ASSIGN_OR_RETURN(auto boot, ChooseBoot(request, mac, policy));
  const auto& [file, http_boot] = boot;

  DhcpPacket reply;
  reply.op = kBootReply;
  reply.htype = request.htype;
  reply.hlen = request.hlen;
  reply.xid = request.xid;
  reply.flags = request.flags;
  reply.ciaddr = request.ciaddr;
  reply.siaddr = policy.server;
  reply.giaddr = request.giaddr;
  reply.chaddr = request.chaddr;
  if (file.size() < kFileBytes) reply.file = file;

  reply.SetOption(option::kMessageType, std::vector<uint8_t>{static_cast<uint8_t>(reply_type)});
  reply.SetOption(option::kServerId,
                  std::vector<uint8_t>(policy.server.begin(), policy.server.end()));
  reply.SetOption(option::kVendorClass, http_boot ? kHttpClient : kPxeClient);
  if (const DhcpOption* uuid = request.FindOption(option::kClientUuid); uuid != nullptr) {
    reply.SetOption(option::kClientUuid, uuid->data);
  }
  if (!http_boot) reply.SetOption(option::kVendorSpecific, PxeBootFileOnlyVendorOptions());
  reply.SetOption(option::kBootfileName, file);

  return ProxyReply{std::move(reply), Destination(request, port), mac, file};
}

}  // namespace midwife::bootserver::dhcp
