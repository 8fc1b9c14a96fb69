#ifndef MIDWIFE_STATESTORE_HOST_TOKEN_H_
#define MIDWIFE_STATESTORE_HOST_TOKEN_H_

#include <string>
#include <string_view>

#include "core/mac_address.h"

namespace midwife::statestore {

// Per-host tokens: "mwh1-" + hex HMAC-SHA256(server secret, canonical MAC).
// Deriving them means the server stores no per-host secrets, and any frontend
// holding the secret checks any host's token. Rotating the secret revokes all.
class HostTokens {
 public:
  explicit HostTokens(std::string secret) : secret_(std::move(secret)) {}

  std::string TokenFor(const MacAddress& mac) const;
  // Constant-time comparison against the expected token.
  bool Matches(const MacAddress& mac, std::string_view token) const;

 private:
  std::string secret_;
};

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_HOST_TOKEN_H_
