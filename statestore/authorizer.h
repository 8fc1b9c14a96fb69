#ifndef MIDWIFE_STATESTORE_AUTHORIZER_H_
#define MIDWIFE_STATESTORE_AUTHORIZER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/mac_address.h"
#include "statestore/host_token.h"

namespace midwife::statestore {

// Who may call what: the admin token may do everything; a host's own token
// may touch only that host, and only for calls marked host-allowed.
class Authorizer {
 public:
  Authorizer(std::string admin_token, HostTokens host_tokens)
      : admin_token_(std::move(admin_token)), host_tokens_(std::move(host_tokens)) {}

  // `authorization` is the "authorization" metadata value ("Bearer <token>").
  // `host` is the host an admin-or-host call touches; nullptr for admin-only
  // calls. UNAUTHENTICATED for a missing or unknown token, PERMISSION_DENIED
  // for a host token used outside its own host.
  absl::Status Check(std::string_view authorization, const MacAddress* host) const;

  const HostTokens& host_tokens() const { return host_tokens_; }

 private:
  std::string admin_token_;
  HostTokens host_tokens_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_AUTHORIZER_H_
