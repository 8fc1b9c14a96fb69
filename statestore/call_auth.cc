#include "statestore/call_auth.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::statestore {
namespace {

std::string_view AuthorizationOf(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {};
  return {it->second.data(), it->second.size()};
}

}  // namespace

absl::StatusOr<MacAddress> AuthorizeHost(const grpc::ServerContextBase& context,
                                         const Authorizer& authorizer, std::string_view field,
                                         const std::string& mac, bool host_allowed) {
  auto parsed = MacAddress::Parse(mac);
  if (!parsed.ok()) {
    absl::Status auth = authorizer.Check(AuthorizationOf(context), nullptr);
    if (absl::IsUnauthenticated(auth)) return auth;
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": ", parsed.status().message()));
  }
  RETURN_IF_ERROR(authorizer.Check(AuthorizationOf(context), host_allowed ? &*parsed : nullptr));
  return parsed;
}

absl::Status AuthorizeAdmin(const grpc::ServerContextBase& context, const Authorizer& authorizer) {
  return authorizer.Check(AuthorizationOf(context), nullptr);
}

}  // namespace midwife::statestore
