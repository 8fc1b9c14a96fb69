#include "bootserver/boot/store_change_follower.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status_macros.h"

namespace midwife::bootserver {
namespace {

namespace v1 = ::midwife::statestore::v1;

const char* FollowUpName(StoreFollowUp::Kind kind) {
  switch (kind) {
    case StoreFollowUp::Kind::kFetchState:
      return "state";
    case StoreFollowUp::Kind::kCheckHead:
      return "head";
    case StoreFollowUp::Kind::kCheckRecord:
      return "record";
    case StoreFollowUp::Kind::kCheckRules:
      return "rules";
  }
  return "other";
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreChangeFollower>> StoreChangeFollower::Start(
    StoreChangeFollowerOptions options, BootService& service) {
  ASSIGN_OR_RETURN(auto store, statestore::StateStoreClient::Connect(options.store));
  ASSIGN_OR_RETURN(auto registry, statestore::HostRegistryClient::Connect(options.store));
  return std::unique_ptr<StoreChangeFollower>(
      new StoreChangeFollower(std::move(options), service, std::move(store), std::move(registry)));
}

StoreChangeFollower::StoreChangeFollower(StoreChangeFollowerOptions options, BootService& service,
                                         std::unique_ptr<statestore::StateStoreClient> store,
                                         std::unique_ptr<statestore::HostRegistryClient> registry)
    : options_(std::move(options)),
      service_(service),
      store_(std::move(store)),
      registry_(std::move(registry)),
      watch_thread_([this] { WatchLoop(); }),
      follow_up_thread_([this] { FollowUpLoop(); }) {}

StoreChangeFollower::~StoreChangeFollower() { Stop(); }

void StoreChangeFollower::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  canceller_.Cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (follow_up_thread_.joinable()) follow_up_thread_.join();
}

bool StoreChangeFollower::Pause(std::chrono::milliseconds duration) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, duration, [this] { return stopping_; });
}

void StoreChangeFollower::WatchLoop() {
  auto backoff = options_.first_backoff;
  std::string last_error;
  for (;;) {
    bool opened = false;
    absl::Status ended = store_->WatchChanges(
        [&](const v1::Change& change) {
          if (!opened) {
            opened = true;
            service_.metrics().SetStoreWatchConnected(true);
            LogEvent("store_watch.connected", {{"server", options_.store.server}});
          }
          for (StoreFollowUp& follow_up : service_.ApplyStoreChange(change)) {
            Enqueue(std::move(follow_up));
          }
          return true;
        },
        &canceller_);
    service_.metrics().SetStoreWatchConnected(false);
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    // A stream that was open ended (the store stopped, a frontend went
    // away): reopen at once; one that never opened waits, growing.
    if (opened) backoff = options_.first_backoff;
    const std::string error(ended.message());
    if (opened || error != last_error) {
      // Once per outage, not once per attempt.
      LogEvent("store_watch.lost", {{"server", options_.store.server}, {"reason", error}});
      last_error = error;
    }
    if (!opened && !Pause(backoff)) return;
    if (!opened) backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void StoreChangeFollower::Enqueue(StoreFollowUp follow_up) {
  FollowUpKey key{follow_up.kind, follow_up.mac};
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = pending_.try_emplace(key, follow_up);
    if (inserted && key.first == StoreFollowUp::Kind::kCheckRecord) {
      settling_.emplace_back(std::chrono::steady_clock::now() + options_.record_settle,
                             std::move(key));
    } else if (inserted) {
      order_.push_back(std::move(key));
    } else {
      // The newer one wins, keeping every rendering either asked for.
      follow_up.tgz = follow_up.tgz || it->second.tgz;
      follow_up.cpio = follow_up.cpio || it->second.cpio;
      it->second = std::move(follow_up);
      return;  // the thread already knows there is work
    }
  }
  wake_.notify_all();
}

void StoreChangeFollower::FollowUpLoop() {
  for (;;) {
    StoreFollowUp follow_up;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stopping_) return;
        const auto now = std::chrono::steady_clock::now();
        while (!settling_.empty() && settling_.front().first <= now) {
          order_.push_back(std::move(settling_.front().second));
          settling_.pop_front();
        }
        if (!order_.empty()) break;
        if (settling_.empty()) {
          wake_.wait(lock);
        } else {
          wake_.wait_until(lock, settling_.front().first);
        }
      }
      auto it = pending_.find(order_.front());
      order_.pop_front();
      follow_up = std::move(it->second);
      pending_.erase(it);
    }
    Run(follow_up);
  }
}

void StoreChangeFollower::Run(const StoreFollowUp& follow_up) {
  const char* what = FollowUpName(follow_up.kind);
  absl::Status status;
  std::string result = "ok";
  switch (follow_up.kind) {
    case StoreFollowUp::Kind::kFetchState: {
      auto backup = store_->Restore(follow_up.mac, follow_up.version);
      status =
          backup.ok() ? service_.OfferNewestState(follow_up, backup->archive) : backup.status();
      break;
    }
    case StoreFollowUp::Kind::kCheckHead: {
      v1::Change head;
      head.set_kind(v1::Change::HEAD);
      head.set_mac(follow_up.mac);
      auto stat = store_->Stat(follow_up.mac);
      if (stat.ok()) {
        head.set_newest_version(stat->version());
        head.set_newest_sha256(stat->sha256());
      } else if (!absl::IsNotFound(stat.status())) {
        status = stat.status();
        break;
      }
      for (StoreFollowUp& next : service_.ApplyStoreChange(head)) Enqueue(std::move(next));
      break;
    }
    case StoreFollowUp::Kind::kCheckRecord: {
      auto record = registry_->GetHost(follow_up.mac);
      if (!record.ok() && !absl::IsNotFound(record.status())) {
        status = record.status();
        break;
      }
      switch (service_.CheckHostRecord(follow_up.mac, record)) {
        case BootService::RecordCheck::kStale:
          result = "stale";
          break;
        case BootService::RecordCheck::kOlder:
          result = "older";
          break;
        default:
          break;
      }
      break;
    }
    case StoreFollowUp::Kind::kCheckRules: {
      auto rules = registry_->GetRules();
      if (!rules.ok()) {
        status = rules.status();
        break;
      }
      // The first read sets the mark: nothing was cached before the first
      // stream. A change seen on the feed has marked the decisions already
      // and only moves the mark.
      if (rules_generation_ && *rules_generation_ != rules->generation() &&
          !follow_up.after_change) {
        v1::Change changed;
        changed.set_kind(v1::Change::RULES);
        service_.ApplyStoreChange(changed);  // its own kCheckRules: this one
        result = "stale";
      }
      rules_generation_ = rules->generation();
      break;
    }
  }
  if (!status.ok()) {
    // The next stream's RESYNC checks again what this could not.
    result = "failed";
    LogEvent("store_watch.follow_up_failed",
             {{"what", what}, {"mac", follow_up.mac}, {"reason", std::string(status.message())}});
  }
  service_.metrics().CountStoreFollowUp(what, result);
}

}  // namespace midwife::bootserver
