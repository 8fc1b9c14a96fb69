#include "statestore/change_hub.h"

#include <algorithm>

#include "core/log.h"
#include "proto/statestore_records.pb.h"
#include "statestore/key_layout.h"

namespace midwife::statestore {
namespace {

v1::Change Resync() {
  v1::Change change;
  change.set_kind(v1::Change::RESYNC);
  return change;
}

// A host record as a watcher gets it (v1::Change.host_record): what tells
// whether a decision made at its last boot still stands, and no more; the
// stream carries one per change of every host.
v1::HostRecord WatchedRecord(v1::HostRecord record) {
  record.clear_last_decision();
  auto* events = record.mutable_events();
  const int64_t last_boot = record.last_seen_unix_ms();
  events->erase(std::remove_if(events->begin(), events->end(),
                               [&](const v1::HostEvent& e) { return e.unix_ms() <= last_boot; }),
                events->end());
  return record;
}

}  // namespace

ChangeHub::ChangeHub(StorageEngine& engine) {
  // Every key watchers care about lies in [h/, rules]: "h/" < "meta/..." <
  // "r/" < "rules"; chunks ("d/") and version records ("v/") lie outside.
  auto feed = engine.Subscribe(std::string(keys::kHeadPrefix), std::string(keys::kRules) + '\0',
                               [this](const ChangeBatch& batch) { Deliver(batch); });
  if (feed.ok()) {
    feed_ = *std::move(feed);
  } else {
    LogEvent("statestore.no_change_feed", {{"reason", std::string(feed.status().message())}});
  }
}

ChangeHub::~ChangeHub() { feed_.reset(); }

std::optional<v1::Change> ChangeHub::ToChange(const std::string& key,
                                              const std::optional<std::string>& value) {
  v1::Change change;
  if (key.starts_with(keys::kHeadPrefix)) {
    change.set_mac(std::string(keys::MacOfHead(key)));
    if (!value) {
      change.set_kind(v1::Change::HOST_DELETED);
      return change;
    }
    records::v1::HostHead head;
    if (!head.ParseFromString(*value)) return std::nullopt;
    change.set_kind(v1::Change::HEAD);
    if (head.versions_size() > 0) {
      change.set_newest_version(head.versions(head.versions_size() - 1));
      change.set_newest_sha256(head.newest_sha256());
    }
    return change;
  }
  if (key.starts_with(keys::kHostEntryPrefix)) {
    change.set_kind(v1::Change::HOST_RECORD);
    change.set_mac(std::string(keys::MacOfHostEntry(key)));
    // An alias's pointer, a removal or an entry that does not parse goes
    // without: the watcher reads what it needs.
    records::v1::HostEntry entry;
    if (value && entry.ParseFromString(*value) && entry.has_host()) {
      change.set_host_record(WatchedRecord(std::move(*entry.mutable_host())).SerializeAsString());
    }
    return change;
  }
  if (key == keys::kRules) {
    change.set_kind(v1::Change::RULES);
    return change;
  }
  return std::nullopt;
}

void ChangeHub::Deliver(const ChangeBatch& batch) {
  {
    // Most of the time nobody watches: cost a commit nothing more.
    std::lock_guard lock(mu_);
    if (watchers_.empty()) return;
  }
  std::vector<v1::Change> changes;
  if (batch.resync) changes.push_back(Resync());
  for (const auto& [key, value] : batch.changes) {
    if (auto change = ToChange(key, value)) changes.push_back(*std::move(change));
  }
  if (changes.empty()) return;
  std::lock_guard lock(mu_);
  for (Watcher* w : watchers_) {
    if (w->queue_.size() + changes.size() > kMaxQueued) {
      w->queue_.clear();
      w->queue_.push_back(Resync());
      continue;
    }
    w->queue_.insert(w->queue_.end(), changes.begin(), changes.end());
  }
  arrived_.notify_all();
}

std::unique_ptr<ChangeHub::Watcher> ChangeHub::Watch() {
  std::unique_ptr<Watcher> watcher(new Watcher(*this));
  std::lock_guard lock(mu_);
  watcher->queue_.push_back(Resync());
  watchers_.insert(watcher.get());
  return watcher;
}

void ChangeHub::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  arrived_.notify_all();
}

bool ChangeHub::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

ChangeHub::Watcher::~Watcher() {
  std::lock_guard lock(hub_.mu_);
  hub_.watchers_.erase(this);
}

std::optional<v1::Change> ChangeHub::Watcher::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(hub_.mu_);
  if (!hub_.arrived_.wait_for(lock, timeout, [this] { return !queue_.empty() || hub_.closed_; }) ||
      hub_.closed_) {
    return std::nullopt;
  }
  v1::Change change = std::move(queue_.front());
  queue_.pop_front();
  return change;
}

}  // namespace midwife::statestore
