#ifndef MIDWIFE_STATESTORE_CALL_AUTH_H_
#define MIDWIFE_STATESTORE_CALL_AUTH_H_

// Authorization of one gRPC call, shared by every service of the state store:
// reads the bearer token from the call's metadata and asks the Authorizer.

#include <grpcpp/server_context.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/mac_address.h"
#include "statestore/authorizer.h"

namespace midwife::statestore {

// Parses `mac` (request field `field`, named in errors) and checks the caller
// may touch that host: with `host_allowed`, the host's own token suffices;
// otherwise the admin token is needed. An unauthenticated caller learns only
// that, never whether the MAC was well formed.
absl::StatusOr<MacAddress> AuthorizeHost(const grpc::ServerContextBase& context,
                                         const Authorizer& authorizer, std::string_view field,
                                         const std::string& mac, bool host_allowed);

// Admin token only.
absl::Status AuthorizeAdmin(const grpc::ServerContextBase& context, const Authorizer& authorizer);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_CALL_AUTH_H_
