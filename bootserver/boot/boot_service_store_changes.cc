// BootService's side of the state store's change feed: how each change
// updates the caches, and what the StoreChangeFollower fetches for them
// (contract in boot_service.h, ApplyStoreChange).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "bootserver/boot/boot_service.h"
#include "core/log.h"
#include "core/sha256.h"
#include "imagebuilder/state_tarball.h"

namespace midwife::bootserver {
namespace {

namespace v1 = ::midwife::statestore::v1;

const char* KindName(v1::Change::Kind kind) {
  switch (kind) {
    case v1::Change::HEAD:
      return "head";
    case v1::Change::HOST_DELETED:
      return "host_deleted";
    case v1::Change::HOST_RECORD:
      return "host_record";
    case v1::Change::RULES:
      return "rules";
    case v1::Change::RESYNC:
      return "resync";
    default:
      return "other";
  }
}

// Why an event recorded after a decision makes it stale, or "" if it does
// not: it changed which image or bootstate the host's next boot gets.
std::string StaleningEvent(const v1::HostEvent& event) {
  switch (event.kind()) {
    case v1::HOST_EVENT_KIND_PUBLISHED:
      return "an image was published to it";
    case v1::HOST_EVENT_KIND_CONFIRMED:
      return "its trial was confirmed";
    case v1::HOST_EVENT_KIND_FAILED:
      return "its trial failed";
    case v1::HOST_EVENT_KIND_ROLLBACK:
      return "its banks were rolled back";
    case v1::HOST_EVENT_KIND_UNASSIGNED:
      return "it was unassigned";
    default:
      return "";  // boots elsewhere are told by last_boot_id; reports, hooks, phases, aliases
  }
}

}  // namespace

std::vector<StoreFollowUp> BootService::ApplyStoreChange(const v1::Change& change) {
  metrics_.CountStoreChange(KindName(change.kind()));
  std::vector<StoreFollowUp> follow_ups;
  const std::string& mac = change.mac();
  std::lock_guard lock(mu_);
  switch (change.kind()) {
    case v1::Change::HEAD: {
      if (BootInFlight(mac) && !change.newest_sha256().empty()) {
        v1::VersionInfo& seen = heads_during_boots_[mac];
        if (change.newest_version() >= seen.version()) {
          seen.set_mac(mac);
          seen.set_version(change.newest_version());
          seen.set_sha256(change.newest_sha256());
        }
      }
      auto boot = boots_.find(mac);
      if (boot != boots_.end() && OlderHead(boot->second, change.newest_version())) {
        // A Stat that raced a newer change, or the feed catching up with an
        // upload through this server: what is cached is newer.
        metrics_.CountOlderAnswer("head");
        break;
      }
      if (boot != boots_.end()) boot->second.head_unconfirmed = false;
      // The renderings the host fetched here (by kind) of an older head are
      // stale whatever happens next.
      StoreFollowUp fetch{.kind = StoreFollowUp::Kind::kFetchState,
                          .mac = mac,
                          .version = change.newest_version(),
                          .sha256 = change.newest_sha256()};
      for (const char* suffix : {kTgz, kCpio}) {
        auto it = newest_state_.find(mac + suffix);
        if (it == newest_state_.end()) continue;
        (suffix == kTgz ? fetch.tgz : fetch.cpio) = true;
        if (it->second != change.newest_sha256() + suffix) newest_state_.erase(it);
      }
      if (boot == boots_.end()) break;  // no decision to fall back to: nothing to prefetch
      v1::BootDecision& decision = boot->second.decision;
      if (change.newest_sha256().empty()) {  // no backup left
        decision.clear_newest_state();
        boot->second.state_archive.reset();
        break;
      }
      if (decision.newest_state().sha256() != change.newest_sha256()) {
        v1::VersionInfo& head = *decision.mutable_newest_state();
        head.Clear();
        head.set_mac(mac);
        head.set_version(change.newest_version());
        head.set_sha256(change.newest_sha256());
        boot->second.state_archive.reset();
      }
      // An upload through this server whose answer is still on its way:
      // KeepUploadedState renders it from its bytes in a moment.
      if (uploads_in_flight_.count({mac, change.newest_sha256()}) > 0) break;
      // A host that fetched no state here yet gets the ESXi one its boot.cfg
      // names.
      if (!fetch.tgz && !fetch.cpio) fetch.tgz = true;
      // Already rendered (a pin or retention left the head as it was; a
      // copy of another host's backup): nothing to fetch for that kind.
      for (const char* suffix : {kTgz, kCpio}) {
        bool& wanted = suffix == kTgz ? fetch.tgz : fetch.cpio;
        if (!wanted || states_.count(change.newest_sha256() + suffix) == 0) continue;
        newest_state_[mac + suffix] = change.newest_sha256() + suffix;
        wanted = false;
      }
      // Fetched now, while the store answers, rather than at the host's next
      // boot: that boot may be the one the store cannot answer (the reason
      // the decision is cached at all), and then it would get the state
      // before this one, or none. The host's own uploads through this server
      // are rendered from their bytes as they pass (KeepUploadedState): found
      // above. The cost is one Restore per backup of a host this server
      // booted made through anyone else, which the host's next boot would
      // pay anyway.
      if (fetch.tgz || fetch.cpio) follow_ups.push_back(std::move(fetch));
      break;
    }
    case v1::Change::HOST_DELETED: {
      // A head seen before the deletion names a backup that is gone.
      heads_during_boots_.erase(mac);
      // Its state (the host's secrets) and token must not outlive it here.
      for (const char* suffix : {kTgz, kCpio}) {
        auto it = newest_state_.find(mac + suffix);
        if (it == newest_state_.end()) continue;
        if (auto state = states_.find(it->second); state != states_.end()) {
          states_bytes_ -= state->second.bytes->size();
          states_.erase(state);
        }
        newest_state_.erase(it);
      }
      if (auto boot = boots_.find(mac); boot != boots_.end()) {
        LogEvent("boot.forgotten",
                 {{"mac", mac}, {"reason", "the host was deleted from the state store"}});
        boots_.erase(boot);
      }
      aliases_booted_.erase(mac);
      progress_.erase(mac);
      std::erase_if(mac_by_address_, [&](const auto& entry) { return entry.second == mac; });
      break;
    }
    case v1::Change::HOST_RECORD: {
      const std::vector<std::string> booted = CachedMacsOfRecord(mac);
      v1::HostRecord record;
      bool read = change.host_record().empty() || !record.ParseFromString(change.host_record());
      if (!read && boot_ids_in_flight_.count(record.last_boot_id()) == 0) {
        // Another boot's change while a boot of this host through this
        // server is under way: whether it came before or after that boot's
        // own is known only once its decision is cached. Read it then.
        for (const auto& [id, asked] : boot_ids_in_flight_) {
          if (asked == record.mac() || std::find(record.aliases().begin(), record.aliases().end(),
                                                 asked) != record.aliases().end()) {
            read = true;
          }
        }
      }
      for (const std::string& cached : booted) {
        if (read) {
          follow_ups.push_back({.kind = StoreFollowUp::Kind::kCheckRecord, .mac = cached});
          continue;
        }
        switch (CheckHostRecordLocked(cached, record)) {
          case RecordCheck::kNothingCached:
            break;
          case RecordCheck::kCurrent:
            metrics_.CountChangeRecord("ok");
            break;
          case RecordCheck::kStale:
            metrics_.CountChangeRecord("stale");
            break;
          case RecordCheck::kOlder:
            metrics_.CountChangeRecord("older");
            break;
        }
      }
      break;
    }
    case v1::Change::RULES:
      // Which cached hosts follow the rules (have no assigned image) is in
      // their records, not here: all are marked, at the cost of a log line
      // for an assigned host that falls back.
      for (auto& [booted, boot] : boots_)
        MarkStale(booted, "the rules changed since this decision");
      follow_ups.push_back({.kind = StoreFollowUp::Kind::kCheckRules, .after_change = true});
      break;
    case v1::Change::RESYNC:
      // First on every stream: after a restart of the store or of the watch,
      // check what may have changed meanwhile rather than drop the caches
      // the store's absence makes valuable.
      for (auto& [booted, boot] : boots_) {
        boot.head_unconfirmed = true;
        follow_ups.push_back({.kind = StoreFollowUp::Kind::kCheckHead, .mac = booted});
        follow_ups.push_back({.kind = StoreFollowUp::Kind::kCheckRecord, .mac = booted});
      }
      follow_ups.push_back({.kind = StoreFollowUp::Kind::kCheckRules});
      break;
    default:
      break;
  }
  return follow_ups;
}

absl::Status BootService::OfferNewestState(const StoreFollowUp& fetch, const std::string& archive) {
  if (Sha256Hex(archive) != fetch.sha256) {
    return absl::DataLossError(absl::StrCat("backup ", fetch.version, " of ", fetch.mac,
                                            " does not hash to ", fetch.sha256));
  }
  for (const char* suffix : {kTgz, kCpio}) {
    const bool cpio = suffix == kCpio;
    if (!(cpio ? fetch.cpio : fetch.tgz)) continue;
    absl::StatusOr<std::string> rendered = cpio ? imagebuilder::CpioOverlayFromBackup(archive)
                                                : imagebuilder::EsxiStateFromBackup(archive);
    if (!rendered.ok()) return rendered.status();
    auto bytes = std::make_shared<const std::string>(*std::move(rendered));
    const std::string etag = Sha256Hex(*bytes);
    std::lock_guard lock(mu_);
    auto boot = boots_.find(fetch.mac);
    // A newer head, or a deletion, came while this one was fetched.
    if (boot == boots_.end() || boot->second.decision.newest_state().sha256() != fetch.sha256)
      break;
    const std::string key = fetch.sha256 + suffix;
    CacheRenderedState(key, std::move(bytes), etag);
    newest_state_[fetch.mac + suffix] = key;
  }
  return absl::OkStatus();
}

BootService::RecordCheck BootService::CheckHostRecord(
    const std::string& mac, const absl::StatusOr<v1::HostRecord>& record) {
  std::lock_guard lock(mu_);
  return CheckHostRecordLocked(mac, record);
}

BootService::RecordCheck BootService::CheckHostRecordLocked(
    const std::string& mac, const absl::StatusOr<v1::HostRecord>& record) {
  auto boot = boots_.find(mac);
  if (boot == boots_.end()) return RecordCheck::kNothingCached;
  if (!record.ok()) {
    MarkStale(mac, "its host record was removed");
    return RecordCheck::kStale;
  }
  const auto stale_or_current = [&] {
    return boot->second.stale_reason.empty() ? RecordCheck::kCurrent : RecordCheck::kStale;
  };
  // Revisions order the changes of one record; an alias that became one
  // (AddAlias replaced its own record) is another record.
  if (record->revision() != 0 && record->mac() == boot->second.decision.mac()) {
    if (record->revision() < boot->second.record_revision) {
      // A read that raced a newer change, or a change older than the
      // decision (the feed is behind this server's own BeginBoot).
      metrics_.CountOlderAnswer("record");
      return RecordCheck::kOlder;
    }
    if (record->revision() == boot->second.record_revision) return stale_or_current();
    boot->second.record_revision = record->revision();
  }
  // A boot of this server under way made the change: its decision replaces
  // this one in a moment.
  if (boot_ids_in_flight_.count(record->last_boot_id()) > 0) return stale_or_current();
  if (record->last_boot_id() != boot->second.boot_id) {
    MarkStale(mac, "the host booted through another boot server since");
    return RecordCheck::kStale;
  }
  // The record's last boot is this decision's: every event of that boot
  // carries its time (last_seen_unix_ms); later ones came after it.
  for (const v1::HostEvent& event : record->events()) {
    if (event.unix_ms() <= record->last_seen_unix_ms()) continue;
    if (std::string why = StaleningEvent(event); !why.empty()) {
      MarkStale(mac, absl::StrCat(why, " since this decision (", event.image(), ")"));
      return RecordCheck::kStale;
    }
  }
  return stale_or_current();
}

bool BootService::NamesHead(const std::string& mac, const std::string& key) const {
  auto boot = boots_.find(mac);
  return boot == boots_.end() || !boot->second.decision.has_newest_state() ||
         key.starts_with(boot->second.decision.newest_state().sha256());
}

bool BootService::OlderHead(const HostBoot& boot, uint64_t version) {
  return !boot.head_unconfirmed && version < boot.decision.newest_state().version();
}

bool BootService::BootInFlight(const std::string& mac) const {
  return std::any_of(boot_ids_in_flight_.begin(), boot_ids_in_flight_.end(),
                     [&](const auto& entry) { return entry.second == mac; });
}

void BootService::KeepNewerHead(const std::string& mac, HostBoot& boot) {
  auto seen = heads_during_boots_.find(mac);
  if (seen == heads_during_boots_.end()) return;
  const v1::VersionInfo& named = boot.decision.newest_state();
  if (boot.decision.has_newest_state() && seen->second.version() <= named.version()) return;
  metrics_.CountOlderAnswer("decision_head");
  *boot.decision.mutable_newest_state() = seen->second;
  // The bytes that came with the decision are the older backup's.
  boot.state_archive.reset();
}

void BootService::MarkStale(const std::string& mac, const std::string& reason) {
  auto boot = boots_.find(mac);
  if (boot == boots_.end() || !boot->second.stale_reason.empty()) return;
  boot->second.stale_reason = reason;
  LogEvent("boot.decision_stale",
           {{"mac", mac}, {"image", boot->second.decision.image()}, {"reason", reason}});
}

std::vector<std::string> BootService::CachedMacsOfRecord(const std::string& primary) {
  std::vector<std::string> macs;
  if (boots_.count(primary) > 0) macs.push_back(primary);
  if (auto aliases = aliases_booted_.find(primary); aliases != aliases_booted_.end()) {
    for (const std::string& alias : aliases->second) {
      if (boots_.count(alias) > 0) macs.push_back(alias);
    }
  }
  return macs;
}

}  // namespace midwife::bootserver
