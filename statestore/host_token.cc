#include "statestore/host_token.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "core/sha256.h"

namespace midwife::statestore {

std::string HostTokens::TokenFor(const MacAddress& mac) const {
  std::string canonical = mac.ToString();
  Sha256Digest mac_out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), mac_out.data(),
       &len);
  return "mwh1-" + ToHex(mac_out);
}

bool HostTokens::Matches(const MacAddress& mac, std::string_view token) const {
  return ConstantTimeEquals(TokenFor(mac), token);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace midwife::statestore
