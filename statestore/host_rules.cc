#include "statestore/host_rules.h"

#include <arpa/inet.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace midwife::statestore {
namespace {

std::string Quoted(std::string_view text) {
  return absl::StrCat("\"", std::string(text.substr(0, 80)), text.size() > 80 ? "...\"" : "\"");
}

std::string MacHex(const MacAddress& mac) {
  std::string hex;
  for (char c : mac.ToString()) {
    if (c != ':') hex += c;
  }
  return hex;
}

absl::Status CheckLengths(const v1::Rule& r) {
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"name", &r.name()},
      {"image", &r.image()},
      {"mac", &r.mac()},
      {"mac_prefix", &r.mac_prefix()},
      {"cidr", &r.cidr()},
      {"vendor_class", &r.vendor_class()},
      {"manufacturer", &r.manufacturer()},
      {"product", &r.product()},
      {"serial", &r.serial()},
      {"uuid", &r.uuid()}};
  for (const auto& [field, value] : fields) {
    if (value->size() > kMaxFieldBytes) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is ", value->size(),
                                                     " bytes; at most ", kMaxFieldBytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Ipv4Cidr::Contains(uint32_t address) const {
  // A shift by 32 is undefined, and /0 is the one prefix that needs it.
  if (prefix_length == 0) return true;
  const uint32_t mask = ~uint32_t{0} << (32 - prefix_length);
  return (address & mask) == network;
}

std::optional<uint32_t> ParseIpv4(std::string_view text) {
  // inet_pton takes only the strict dotted quad (no octal, no short forms).
  if (text.size() > 15) return std::nullopt;
  std::string copy(text);
  in_addr addr{};
  if (inet_pton(AF_INET, copy.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(std::string_view text) {
  const size_t slash = text.find('/');
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("cidr ", Quoted(text), ": ", std::string(why)));
  };
  if (slash == std::string_view::npos) return bad("expected a.b.c.d/n, e.g. 10.1.0.0/16");
  std::optional<uint32_t> network = ParseIpv4(text.substr(0, slash));
  if (!network) return bad("the address is not a dotted quad a.b.c.d");
  std::string_view digits = text.substr(slash + 1);
  int length = 0;
  bool ok = !digits.empty() && digits.size() <= 2;
  for (char c : digits) {
    ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(c));
    length = length * 10 + (c - '0');
  }
  if (!ok || length > 32) return bad("prefix length must be 0-32");
  Ipv4Cidr cidr{*network, length};
  const uint32_t masked = length == 0 ? 0 : *network & (~uint32_t{0} << (32 - length));
  if (masked != *network) {
    in_addr addr{htonl(masked)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, buf, sizeof buf);
    return bad(absl::StrCat("host bits are set; did you mean ", buf, "/", length, "?"));
  }
  return cidr;
}

absl::StatusOr<std::string> NormalizeMacPrefix(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == '-' || c == '.') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || hex.size() >= 12) {
      return absl::InvalidArgumentError(
          absl::StrCat("mac_prefix ", Quoted(text), ": expected 1-11 hex digits, e.g. 00:50:56"));
    }
    hex += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  if (hex.empty() || hex.size() == 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("mac_prefix ", Quoted(text),
                     hex.empty() ? ": expected 1-11 hex digits, e.g. 00:50:56"
                                 : ": that is a whole MAC address; use the mac field"));
  }
  return hex;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Greedy scan remembering the last '*': on a mismatch, let that star eat
  // one more byte. Linear per star, so bounded by |pattern| * |text|.
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() &&
               (pattern[p] == '?' ||
                absl::ascii_tolower(static_cast<unsigned char>(pattern[p])) ==
                    absl::ascii_tolower(static_cast<unsigned char>(text[t])))) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status CheckImageReference(std::string_view image) {
  // The full grammar lives with the image repository (imagebuilder); this
  // catches what would otherwise only fail at boot: empty, unbounded, no '@'.
  const size_t at = image.find('@');
  bool ok = !image.empty() && image.size() <= kMaxFieldBytes && at != std::string_view::npos &&
            at != 0 && at + 1 != image.size() && image.find('@', at + 1) == std::string_view::npos;
  for (char c : image) ok = ok && absl::ascii_isgraph(static_cast<unsigned char>(c));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("image ", Quoted(image), ": expected name@version, e.g. esxi@8.0u2"));
}

absl::StatusOr<HostRules> HostRules::Compile(const v1::RuleSet& set) {
  if (set.rules_size() > kMaxRules) {
    return absl::InvalidArgumentError(
        absl::StrCat(set.rules_size(), " rules given; at most ", kMaxRules));
  }
  HostRules out;
  std::set<std::string> names;
  for (int i = 0; i < set.rules_size(); ++i) {
    const v1::Rule& r = set.rules(i);
    auto fail = [&](const absl::Status& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule ", i + 1, " (", Quoted(r.name()), "): ", why.message()));
    };
    Compiled c{r, std::nullopt, "", std::nullopt};
    if (auto st = CheckLengths(r); !st.ok()) return fail(st);
    if (r.name().empty()) return fail(absl::InvalidArgumentError("a rule needs a name"));
    if (!names.insert(r.name()).second) {
      return fail(absl::InvalidArgumentError("another rule has this name"));
    }
    if (auto st = CheckImageReference(r.image()); !st.ok()) return fail(st);
    if (!r.mac().empty()) {
      auto mac = MacAddress::Parse(r.mac());
      if (!mac.ok()) return fail(mac.status());
      c.mac = *mac;
    }
    if (!r.mac_prefix().empty()) {
      auto prefix = NormalizeMacPrefix(r.mac_prefix());
      if (!prefix.ok()) return fail(prefix.status());
      c.mac_prefix = *prefix;
    }
    if (!r.cidr().empty()) {
      auto cidr = ParseIpv4Cidr(r.cidr());
      if (!cidr.ok()) return fail(cidr.status());
      c.cidr = *cidr;
    }
    out.rules_.push_back(std::move(c));
  }
  return out;
}

bool HostRules::Matches(const Compiled& c, const std::string& mac_hex,
                        std::optional<uint32_t> address, const v1::HostFacts& facts) {
  const v1::Rule& r = c.rule;
  if (c.mac && MacHex(*c.mac) != mac_hex) return false;
  if (!c.mac_prefix.empty() && !std::string_view(mac_hex).starts_with(c.mac_prefix)) return false;
  if (c.cidr && !(address && c.cidr->Contains(*address))) return false;
  if (r.has_arch() && !(facts.has_arch() && facts.arch() == r.arch())) return false;
  if (!r.vendor_class().empty() &&
      !std::string_view(facts.vendor_class()).starts_with(r.vendor_class())) {
    return false;
  }
  const std::pair<const std::string&, const std::string&> globs[] = {
      {r.manufacturer(), facts.manufacturer()},
      {r.product(), facts.product()},
      {r.serial(), facts.serial()},
      {r.uuid(), facts.uuid()}};
  for (const auto& [pattern, value] : globs) {
    if (!pattern.empty() && !GlobMatch(pattern, value)) return false;
  }
  return true;
}

const v1::Rule* HostRules::Match(const MacAddress& mac, const v1::HostFacts& facts) const {
  const std::string mac_hex = MacHex(mac);
  // Facts come from the network: an address that does not parse matches no
  // CIDR rather than failing the boot.
  const std::optional<uint32_t> address = ParseIpv4(facts.address());
  for (const Compiled& c : rules_) {
    if (Matches(c, mac_hex, address, facts)) return &c.rule;
  }
  return nullptr;
}

}  // namespace midwife::statestore
