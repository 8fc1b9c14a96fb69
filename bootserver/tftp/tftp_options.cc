#include "bootserver/tftp/tftp_options.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace midwife::bootserver::tftp {
namespace {

// Plain decimal digits, at most 10 of them (fits any option's range check
// below without overflow).
std::optional<uint64_t> ParseNumber(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

}  // namespace

NegotiatedOptions NegotiateReadOptions(const std::vector<Option>& requested, uint64_t file_size,
                                       const NegotiationLimits& limits) {
  NegotiatedOptions result;
  for (const Option& option : requested) {
    const std::optional<uint64_t> number = ParseNumber(option.value);
    if (!number) continue;
    if (option.name == "blksize") {
      if (*number < kMinBlockSize) continue;
      const uint64_t max =
          std::clamp<uint64_t>(limits.max_block_size, kMinBlockSize, kMaxBlockSize);
      result.block_size = static_cast<uint16_t>(std::min(*number, max));
      result.acknowledged.push_back({option.name, std::to_string(result.block_size)});
    } else if (option.name == "timeout") {
      if (*number < kMinTimeoutSeconds || *number > kMaxTimeoutSeconds) continue;
      result.timeout_seconds = static_cast<int>(*number);
      result.acknowledged.push_back({option.name, std::to_string(*number)});
    } else if (option.name == "tsize") {
      result.acknowledged.push_back({option.name, std::to_string(file_size)});
    } else if (option.name == "windowsize") {
      if (*number < 1) continue;
      const uint64_t max = std::clamp<uint64_t>(limits.max_window_size, 1, kMaxWindowSize);
      result.window_size = static_cast<uint16_t>(std::min(*number, max));
      result.acknowledged.push_back({option.name, std::to_string(result.window_size)});
    }
  }
  return result;
}

}  // namespace midwife::bootserver::tftp
