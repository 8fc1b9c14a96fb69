// libFuzzer target: the one MAC parser (core/mac_address.h). Checks, beyond
// "no crash": every accepted address prints in all three forms and each form
// parses back to the same address.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/mac_address.h"

using midwife::MacAddress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mac = MacAddress::Parse(text);
  if (!mac.ok()) return 0;
  for (const auto& form : {mac->ToString(), mac->ToDashed(), mac->ToBootif()}) {
    auto again = MacAddress::Parse(form);
    if (!again.ok() || *again != *mac) std::abort();
  }
  auto from_bytes = MacAddress::FromBytes(mac->bytes());
  if (!from_bytes.ok() || *from_bytes != *mac) std::abort();
  return 0;
}
