#ifndef MIDWIFE_STATESTORE_HOST_RULES_H_
#define MIDWIFE_STATESTORE_HOST_RULES_H_

// Rules that map hosts to images, as pure functions: validation, compilation
// and matching (semantics in proto/hostregistry.proto, message Rule). No I/O,
// no clock; a compiled HostRules is immutable and safe to share across threads.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/mac_address.h"
#include "proto/hostregistry.pb.h"

namespace midwife::statestore {

// Rules in one RuleSet at most; with every field at its bound the set stays
// well under an etcd request (~1.5 MiB), since it lives in one key.
inline constexpr int kMaxRules = 256;
// Longest value of any rule field, and of any fact recorded for a host.
inline constexpr size_t kMaxFieldBytes = 256;

struct Ipv4Cidr {
  uint32_t network = 0;  // Host byte order, host bits zero.
  int prefix_length = 0;
  bool Contains(uint32_t address) const;
};

// Dotted quad "a.b.c.d", host byte order; std::nullopt for anything else.
std::optional<uint32_t> ParseIpv4(std::string_view text);

// "a.b.c.d/n", n in 0-32. Host bits set are refused (naming the network
// meant), since "10.1.2.3/16" is more often a typo than an intent.
absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(std::string_view text);

// A MAC prefix as lower-case hex digits, ':', '-' and '.' dropped: 1-11
// digits (12 would be a whole MAC: use the rule's mac field).
absl::StatusOr<std::string> NormalizeMacPrefix(std::string_view text);

// Shell-style glob over the whole of `text`: '*' any run, '?' one byte;
// ASCII case-insensitive. Time O(|pattern| * |text|) at worst.
bool GlobMatch(std::string_view pattern, std::string_view text);

// Checks the "name@version" shape of an image reference. The registry does
// not know which images exist; the boot server resolves them.
absl::Status CheckImageReference(std::string_view image);

// A validated rule list, compiled once for matching every boot.
class HostRules {
 public:
  HostRules() = default;  // No rules: matches nothing.

  // INVALID_ARGUMENT naming the rule (position and name), the field and the
  // reason for the first problem found: missing name or image, duplicate
  // name, a field over kMaxFieldBytes, a bad MAC, prefix or CIDR, more than
  // kMaxRules rules.
  static absl::StatusOr<HostRules> Compile(const v1::RuleSet& set);

  // The first rule every set field of which matches; nullptr if none.
  // The pointer lives as long as this object.
  const v1::Rule* Match(const MacAddress& mac, const v1::HostFacts& facts) const;

  size_t size() const { return rules_.size(); }

 private:
  struct Compiled {
    v1::Rule rule;
    std::optional<MacAddress> mac;
    std::string mac_prefix;  // Normalized hex digits; empty: unset.
    std::optional<Ipv4Cidr> cidr;
  };
  static bool Matches(const Compiled& rule, const std::string& mac_hex,
                      std::optional<uint32_t> address, const v1::HostFacts& facts);

  std::vector<Compiled> rules_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_HOST_RULES_H_
