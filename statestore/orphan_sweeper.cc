#include "statestore/orphan_sweeper.h"

#include "core/log.h"

namespace midwife::statestore {

OrphanSweeper::OrphanSweeper(BackupStore& store, std::chrono::milliseconds interval)
    : store_(store), interval_(interval), thread_([this] { Run(); }) {}

OrphanSweeper::~OrphanSweeper() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void OrphanSweeper::Run() {
  std::set<std::string> suspects;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto deleted = store_.SweepOrphanChunks(suspects);
    if (!deleted.ok()) {
      LogEvent("statestore.orphan_sweep_failed",
               {{"error", std::string(deleted.status().message())}});
    } else if (*deleted > 0 || !suspects.empty()) {
      LogEvent("statestore.orphan_sweep", {{"deleted_chunks", std::to_string(*deleted)},
                                           {"suspect_versions", std::to_string(suspects.size())}});
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace midwife::statestore
