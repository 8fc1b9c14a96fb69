#include "statestore/authorizer.h"

#include "absl/strings/str_cat.h"

namespace midwife::statestore {

absl::Status Authorizer::Check(std::string_view authorization, const MacAddress* host) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    return absl::UnauthenticatedError(
        "no bearer token: send metadata \"authorization: Bearer <token>\"");
  }
  std::string_view token = authorization.substr(kBearer.size());
  if (ConstantTimeEquals(token, admin_token_)) return absl::OkStatus();
  if (token.starts_with("mwh1-")) {
    if (host == nullptr) {
      return absl::PermissionDeniedError("a host token may not call this method; use the admin token");
    }
    if (host_tokens_.Matches(*host, token)) return absl::OkStatus();
    return absl::PermissionDeniedError(
        absl::StrCat("the token given is not the host token of ", host->ToString()));
  }
  return absl::UnauthenticatedError("unknown token");
}

}  // namespace midwife::statestore
