#include "statestore/host_registry.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "proto/statestore_records.pb.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {
namespace {

namespace rec = ::midwife::statestore::records::v1;

// As in BackupStore: losing this many races in a row means something writes
// the host in a tight loop.
constexpr int kMaxCommitAttempts = 32;
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

absl::StatusOr<rec::HostEntry> ParseEntry(const std::string& raw, std::string_view key) {
  rec::HostEntry entry;
  if (!entry.ParseFromString(raw)) {
    return absl::DataLossError(absl::StrCat("host entry ", std::string(key), " is corrupt"));
  }
  return entry;
}

std::string Cut(const std::string& text) { return text.substr(0, kMaxFieldBytes); }

// Facts arrive from DHCP and SMBIOS, i.e. from the network: bounded, and a
// boot that learned less than the last one does not forget what was known.
void MergeFacts(const v1::HostFacts& in, v1::HostFacts& out) {
  if (!in.address().empty()) out.set_address(Cut(in.address()));
  if (in.has_arch()) out.set_arch(in.arch());
  if (!in.vendor_class().empty()) out.set_vendor_class(Cut(in.vendor_class()));
  if (!in.manufacturer().empty()) out.set_manufacturer(Cut(in.manufacturer()));
  if (!in.product().empty()) out.set_product(Cut(in.product()));
  if (!in.serial().empty()) out.set_serial(Cut(in.serial()));
  if (!in.uuid().empty()) out.set_uuid(Cut(in.uuid()));
}

bool HoldsNothing(const v1::HostRecord& r) {
  return r.active().image().empty() && r.alternate().image().empty() &&
         r.assigned_image().empty() && r.aliases_size() == 0;
}

absl::Status NoHost(const MacAddress& mac) {
  return absl::NotFoundError(absl::StrCat("no host record for ", mac.ToString()));
}

}  // namespace

struct HostRegistry::LoadedHost {
  std::string primary;
  v1::HostRecord record;            // mac set, the rest empty, when absent.
  std::optional<std::string> raw;   // Entry at r/<primary>: the CAS token.
  std::optional<Precondition> via;  // r/<mac> still names the primary.
};

HostRegistry::HostRegistry(StorageEngine& engine, HostRegistryOptions options)
    : engine_(engine), options_(std::move(options)) {}

int64_t HostRegistry::Now() const {
  if (options_.now_unix_ms) return options_.now_unix_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<HostRegistry::LoadedHost> HostRegistry::Load(const MacAddress& mac) {
  LoadedHost host;
  host.primary = mac.ToString();
  std::string key = keys::HostEntry(host.primary);
  ASSIGN_OR_RETURN(host.raw, engine_.Get(key));
  if (!host.raw) {
    host.record.set_mac(host.primary);
    return host;
  }
  ASSIGN_OR_RETURN(rec::HostEntry entry, ParseEntry(*host.raw, key));
  if (entry.has_alias_of()) {
    host.via = Precondition{key, host.raw};
    host.primary = entry.alias_of();
    key = keys::HostEntry(host.primary);
    ASSIGN_OR_RETURN(host.raw, engine_.Get(key));
    if (host.raw) {
      ASSIGN_OR_RETURN(entry, ParseEntry(*host.raw, key));
      if (!entry.has_host()) {
        return absl::DataLossError(absl::StrCat("alias ", mac.ToString(), " leads to ",
                                                host.primary, ", which is an alias too"));
      }
    }
  }
  host.record = std::move(*entry.mutable_host());
  host.record.set_mac(host.primary);
  return host;
}

void HostRegistry::AddWrite(const LoadedHost& host, v1::HostRecord& record,
                            std::vector<Precondition>& preconditions, WriteBatch& batch) const {
  const std::string key = keys::HostEntry(host.primary);
  preconditions.push_back({key, host.raw});
  if (host.via) preconditions.push_back(*host.via);
  // The compare-and-set on the entry makes this the only commit from that
  // revision: revisions of one record never repeat.
  record.set_revision(host.record.revision() + 1);
  rec::HostEntry entry;
  *entry.mutable_host() = record;
  batch.puts.emplace_back(key, entry.SerializeAsString());
}

absl::Status HostRegistry::Commit(const LoadedHost& host, v1::HostRecord& record,
                                  std::vector<Precondition> preconditions, WriteBatch batch) {
  AddWrite(host, record, preconditions, batch);
  return engine_.Commit(preconditions, batch);
}

absl::StatusOr<v1::HostRecord> HostRegistry::Mutate(const MacAddress& mac, bool create,
                                                    const std::string& address,
                                                    const Change& change) {
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(LoadedHost host, Load(mac));
    if (!host.raw && !create) return NoHost(mac);
    v1::HostRecord record = host.record;
    RETURN_IF_ERROR(change(record, Moment{Now(), mac.ToString(), address}));
    absl::Status st = Commit(host, record, {}, {});
    if (st.ok()) return record;
    if (!absl::IsAborted(st) || attempt >= kMaxCommitAttempts) return st;
  }
}

absl::StatusOr<std::shared_ptr<const HostRegistry::RulesSnapshot>> HostRegistry::Rules(
    bool refresh) {
  if (!refresh) {
    std::lock_guard lock(mu_);
    if (rules_) return rules_;
  }
  auto snapshot = std::make_shared<RulesSnapshot>();
  ASSIGN_OR_RETURN(snapshot->raw, engine_.Get(keys::kRules));
  if (snapshot->raw) {
    v1::RuleSet set;
    if (!set.ParseFromString(*snapshot->raw)) return absl::DataLossError("the rules are corrupt");
    auto compiled = HostRules::Compile(set);
    if (!compiled.ok()) {
      return absl::DataLossError(absl::StrCat("stored rules: ", compiled.status().message()));
    }
    snapshot->rules = *std::move(compiled);
  }
  std::lock_guard lock(mu_);
  rules_ = snapshot;
  return snapshot;
}

struct HostRegistry::PlannedBoot {
  // The host's last decision, answered again: nothing to write.
  bool replay = false;
  bool used_rules = false;
  LoadedHost host;
  v1::HostRecord record;  // As it will be written.
  std::vector<Precondition> preconditions;
  v1::BootDecision decision;
};

absl::StatusOr<HostRegistry::PlannedBoot> HostRegistry::PlanOneBoot(const MacAddress& mac,
                                                                    const v1::HostFacts& facts,
                                                                    const std::string& boot_id,
                                                                    bool refresh_rules) {
  if (boot_id.size() > kMaxBootIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("boot_id is ", boot_id.size(), " bytes; at most ", kMaxBootIdBytes));
  }
  PlannedBoot plan;
  ASSIGN_OR_RETURN(plan.host, Load(mac));
  v1::HostRecord& record = plan.record;
  record = plan.host.record;
  if (!boot_id.empty() && record.last_boot_id() == boot_id) {
    plan.replay = true;
    plan.decision = record.last_decision();
    return plan;
  }

  const int64_t now = Now();
  MergeFacts(facts, *record.mutable_facts());
  if (record.first_seen_unix_ms() == 0) record.set_first_seen_unix_ms(now);
  record.set_last_seen_unix_ms(now);
  record.set_boot_count(record.boot_count() + 1);

  // An assigned host ignores the rules, so its boot need not depend on them.
  std::shared_ptr<const RulesSnapshot> rules;
  if (record.assigned_image().empty()) {
    ASSIGN_OR_RETURN(rules, Rules(refresh_rules));
    plan.preconditions.push_back({std::string(keys::kRules), rules->raw});
    plan.used_rules = true;
  }
  ASSIGN_OR_RETURN(const MacAddress primary, MacAddress::Parse(plan.host.primary));
  const v1::Rule* rule = rules ? rules->rules.Match(primary, record.facts()) : nullptr;
  plan.decision =
      PlanBoot(record, rule, options_.banks, Moment{now, mac.ToString(), record.facts().address()});
  plan.decision.set_record_revision(plan.host.record.revision() + 1);  // as AddWrite sets it
  record.set_last_boot_id(boot_id);
  *record.mutable_last_decision() = plan.decision;
  return plan;
}

absl::StatusOr<v1::BootDecision> HostRegistry::BeginBoot(const MacAddress& mac,
                                                         const v1::HostFacts& facts,
                                                         const std::string& boot_id) {
  bool refresh_rules = false;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(PlannedBoot plan, PlanOneBoot(mac, facts, boot_id, refresh_rules));
    if (plan.replay) return std::move(plan.decision);
    absl::Status st = Commit(plan.host, plan.record, std::move(plan.preconditions), {});
    if (st.ok()) return std::move(plan.decision);
    if (!absl::IsAborted(st) || attempt >= kMaxCommitAttempts) return st;
    refresh_rules = plan.used_rules;
  }
}

namespace {

// One shared Commit of several boots, within the engine's limits.
struct BootGroup {
  std::vector<size_t> members;  // Indexes into the items.
  std::vector<v1::BootDecision> decisions;
  // Every key the group's boots check, with the value they expect: a key
  // shared by several boots (the rules) must expect the same value in all
  // of them, and is checked once.
  std::map<std::string, std::optional<std::string>, std::less<>> expected;
  WriteBatch batch;
  size_t bytes = 0;
};

size_t Bytes(const Precondition& p) { return p.key.size() + (p.value ? p.value->size() : 0); }

// Adds one boot's write to `group` if it is consistent with the group's and
// fits the engine's limits; false (group unchanged) otherwise.
bool AddToGroup(BootGroup& group, const std::vector<Precondition>& preconditions,
                const WriteBatch& batch, const CommitLimits& limits) {
  std::vector<const Precondition*> fresh;
  size_t bytes = 0;
  for (const Precondition& p : preconditions) {
    if (p.any_value) return false;  // Boots never use these; keep the check simple.
    auto it = group.expected.find(p.key);
    if (it == group.expected.end()) {
      fresh.push_back(&p);
      bytes += Bytes(p);
    } else if (it->second != p.value) {
      return false;
    }
  }
  for (const auto& [k, v] : batch.puts) bytes += k.size() + v.size();
  const size_t precondition_ops = group.expected.size() + fresh.size();
  const size_t write_ops = group.batch.puts.size() + batch.puts.size();
  const bool fits =
      (limits.max_bytes == 0 || group.bytes + bytes <= limits.max_bytes) &&
      (limits.max_ops == 0 || (precondition_ops <= limits.max_ops && write_ops <= limits.max_ops));
  if (!fits && !group.members.empty()) return false;
  for (const Precondition* p : fresh) group.expected.emplace(p->key, p->value);
  for (const auto& put : batch.puts) group.batch.puts.push_back(put);
  group.bytes += bytes;
  return true;
}

}  // namespace

std::vector<absl::StatusOr<v1::BootDecision>> HostRegistry::BeginBoots(
    const std::vector<BootItem>& items) {
  std::vector<absl::StatusOr<v1::BootDecision>> out(items.size(),
                                                    absl::InternalError("boot not answered"));
  std::vector<size_t> alone;  // Items done one by one after the groups.
  std::vector<BootGroup> groups(1);
  std::set<std::string> hosts_in_groups;
  const CommitLimits limits = engine_.Limits();
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StatusOr<PlannedBoot> plan =
        PlanOneBoot(items[i].mac, items[i].facts, items[i].boot_id, false);
    if (!plan.ok()) {
      out[i] = plan.status();
      continue;
    }
    if (plan->replay) {
      out[i] = std::move(plan->decision);
      continue;
    }
    if (hosts_in_groups.count(plan->host.primary) > 0) {
      alone.push_back(i);
      continue;
    }
    std::vector<Precondition> preconditions = std::move(plan->preconditions);
    WriteBatch batch;
    AddWrite(plan->host, plan->record, preconditions, batch);
    if (!AddToGroup(groups.back(), preconditions, batch, limits)) {
      if (!AddToGroup(groups.emplace_back(), preconditions, batch, limits)) {
        groups.pop_back();
        alone.push_back(i);
        continue;
      }
    }
    hosts_in_groups.insert(plan->host.primary);
    groups.back().members.push_back(i);
    groups.back().decisions.push_back(std::move(plan->decision));
  }
  for (BootGroup& group : groups) {
    if (group.members.empty()) continue;
    std::vector<Precondition> preconditions;
    for (const auto& [key, value] : group.expected) preconditions.push_back({key, value});
    const absl::Status st = engine_.Commit(preconditions, group.batch);
    for (size_t m = 0; m < group.members.size(); ++m) {
      const size_t i = group.members[m];
      if (st.ok()) {
        out[i] = std::move(group.decisions[m]);
      } else if (absl::IsAborted(st)) {
        alone.push_back(i);  // Nothing was written: planned again, alone.
      } else {
        out[i] = st;
      }
    }
  }
  std::sort(alone.begin(), alone.end());
  for (size_t i : alone) out[i] = BeginBoot(items[i].mac, items[i].facts, items[i].boot_id);
  return out;
}

absl::StatusOr<v1::HostRecord> HostRegistry::ReportBirth(const MacAddress& mac,
                                                         const BirthReport& report,
                                                         const std::string& address,
                                                         const std::string& phases) {
  BirthReport bounded = report;
  bounded.image = Cut(report.image);
  bounded.build = Cut(report.build);
  return Mutate(mac, false, Cut(address), [&](v1::HostRecord& record, const Moment& now) {
    RETURN_IF_ERROR(ApplyBirthReport(record, bounded, now));
    if (phases.empty()) return absl::OkStatus();
    v1::HostEvent event;
    event.set_unix_ms(now.unix_ms);
    event.set_mac(now.mac);
    event.set_address(now.address);
    event.set_kind(v1::HOST_EVENT_KIND_PHASES);
    event.set_image(record.active().image());
    event.set_reason(phases.substr(0, 1024));
    AppendEvent(record, std::move(event));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::HostRecord> HostRegistry::Assign(const MacAddress& mac,
                                                    const std::string& image) {
  RETURN_IF_ERROR(CheckImageReference(image));
  return Mutate(mac, true, "", [&](v1::HostRecord& record, const Moment& now) {
    ApplyAssign(record, image, now);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::HostRecord> HostRegistry::Unassign(const MacAddress& mac) {
  return Mutate(mac, false, "", [](v1::HostRecord& record, const Moment& now) {
    ApplyUnassign(record, now);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::HostRecord> HostRegistry::Rollback(const MacAddress& mac) {
  return Mutate(mac, false, "", [](v1::HostRecord& record, const Moment& now) {
    return ApplyRollback(record, now);
  });
}

absl::StatusOr<v1::HostRecord> HostRegistry::RecordEvent(const MacAddress& mac,
                                                         const v1::RecordEventRequest& request) {
  if (request.kind() != v1::HOST_EVENT_KIND_HOOK && request.kind() != v1::HOST_EVENT_KIND_PHASES) {
    return absl::InvalidArgumentError(
        absl::StrCat("only HOOK and PHASES events may be recorded from outside, not ",
                     v1::HostEventKind_Name(request.kind())));
  }
  return Mutate(mac, false, request.address(), [&](v1::HostRecord& record, const Moment& now) {
    v1::HostEvent event;
    event.set_unix_ms(now.unix_ms);
    event.set_mac(now.mac);
    event.set_address(request.address());
    event.set_kind(request.kind());
    event.set_image(request.image().substr(0, 256));
    event.set_reason(request.reason().substr(0, 1024));
    AppendEvent(record, std::move(event));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::HostRecord> HostRegistry::AddAlias(const MacAddress& mac,
                                                      const MacAddress& alias) {
  if (alias == mac) {
    return absl::InvalidArgumentError(
        absl::StrCat(alias.ToString(), " cannot be an alias of itself"));
  }
  const std::string alias_key = keys::HostEntry(alias.ToString());
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(LoadedHost host, Load(mac));
    if (host.primary == alias.ToString()) {
      return absl::InvalidArgumentError(
          absl::StrCat(alias.ToString(), " is the host's own MAC, not an alias"));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> alias_raw, engine_.Get(alias_key));
    std::string replaced;
    if (alias_raw) {
      ASSIGN_OR_RETURN(rec::HostEntry entry, ParseEntry(*alias_raw, alias_key));
      if (entry.has_alias_of() && entry.alias_of() == host.primary && host.raw) return host.record;
      if (entry.has_alias_of()) {
        return absl::FailedPreconditionError(
            absl::StrCat(alias.ToString(), " is already an alias of ", entry.alias_of()));
      }
      if (!HoldsNothing(entry.host())) {
        return absl::FailedPreconditionError(
            absl::StrCat(alias.ToString(),
                         " has its own host record with images or aliases; "
                         "Unassign it first"));
      }
      replaced =
          absl::StrCat("; its own record (", entry.host().boot_count(), " boots) is replaced");
    }
    v1::HostRecord record = host.record;
    if (record.aliases_size() >= kMaxAliasesPerHost) {
      return absl::FailedPreconditionError(
          absl::StrCat("host ", host.primary, " already has ", kMaxAliasesPerHost, " aliases"));
    }
    record.add_aliases(alias.ToString());
    v1::HostEvent event;
    event.set_unix_ms(Now());
    event.set_mac(mac.ToString());
    event.set_kind(v1::HOST_EVENT_KIND_ALIAS);
    event.set_reason(absl::StrCat("alias ", alias.ToString(), " added", replaced));
    AppendEvent(record, std::move(event));

    rec::HostEntry pointer;
    pointer.set_alias_of(host.primary);
    WriteBatch batch;
    batch.puts.emplace_back(alias_key, pointer.SerializeAsString());
    absl::Status st = Commit(host, record, {{alias_key, alias_raw}}, std::move(batch));
    if (st.ok()) return record;
    if (!absl::IsAborted(st) || attempt >= kMaxCommitAttempts) return st;
  }
}

absl::StatusOr<v1::HostRecord> HostRegistry::GetHost(const MacAddress& mac) {
  ASSIGN_OR_RETURN(LoadedHost host, Load(mac));
  if (!host.raw) return NoHost(mac);
  return std::move(host.record);
}

absl::StatusOr<HostRecordPage> HostRegistry::ListHosts(uint32_t page_size,
                                                       const std::string& page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);
  std::string start_after;
  if (!page_token.empty()) {
    ASSIGN_OR_RETURN(MacAddress after, MacAddress::Parse(page_token));
    start_after = keys::HostEntry(after.ToString());
  }
  ASSIGN_OR_RETURN(auto rows, engine_.Scan(keys::kHostEntryPrefix, start_after, page_size + 1));
  HostRecordPage page;
  for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
    ASSIGN_OR_RETURN(rec::HostEntry entry, ParseEntry(rows[i].value, rows[i].key));
    if (!entry.has_host()) continue;  // Aliases are listed with their host.
    v1::HostRecord& record = page.hosts.emplace_back(std::move(*entry.mutable_host()));
    record.set_mac(std::string(keys::MacOfHostEntry(rows[i].key)));
    record.clear_events();
  }
  // The token is the last key looked at, which an alias may have been.
  if (rows.size() > page_size) {
    page.next_page_token = std::string(keys::MacOfHostEntry(rows[page_size - 1].key));
  }
  return page;
}

absl::StatusOr<std::vector<v1::HostEvent>> HostRegistry::ListEvents(const MacAddress& mac,
                                                                    uint32_t limit) {
  ASSIGN_OR_RETURN(LoadedHost host, Load(mac));
  if (!host.raw) return NoHost(mac);
  const auto& events = host.record.events();
  std::vector<v1::HostEvent> out(events.rbegin(), events.rend());
  if (limit != 0 && out.size() > limit) out.resize(limit);
  return out;
}

absl::StatusOr<v1::RuleSet> HostRegistry::SetRules(const v1::RuleSet& rules,
                                                   std::optional<uint64_t> expected_generation) {
  ASSIGN_OR_RETURN(HostRules compiled, HostRules::Compile(rules));
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<std::string> raw, engine_.Get(keys::kRules));
    v1::RuleSet current;
    if (raw && !current.ParseFromString(*raw)) return absl::DataLossError("the rules are corrupt");
    if (expected_generation && *expected_generation != current.generation()) {
      return absl::AbortedError(absl::StrCat("the rules are at generation ", current.generation(),
                                             ", not the expected ", *expected_generation,
                                             "; nothing changed"));
    }
    v1::RuleSet next;
    *next.mutable_rules() = rules.rules();
    next.set_generation(current.generation() + 1);
    next.set_updated_unix_ms(Now());
    auto snapshot = std::make_shared<RulesSnapshot>();
    snapshot->raw = next.SerializeAsString();
    snapshot->rules = compiled;
    WriteBatch batch;
    batch.puts.emplace_back(std::string(keys::kRules), *snapshot->raw);
    absl::Status st = engine_.Commit({{std::string(keys::kRules), raw}}, batch);
    if (st.ok()) {
      std::lock_guard lock(mu_);
      rules_ = std::move(snapshot);
      return next;
    }
    if (!absl::IsAborted(st) || expected_generation || attempt >= kMaxCommitAttempts) return st;
  }
}

absl::StatusOr<v1::RuleSet> HostRegistry::GetRules() {
  ASSIGN_OR_RETURN(std::optional<std::string> raw, engine_.Get(keys::kRules));
  v1::RuleSet set;
  if (raw && !set.ParseFromString(*raw)) return absl::DataLossError("the rules are corrupt");
  return set;
}

}  // namespace midwife::statestore
