#ifndef MIDWIFE_STATESTORE_ORPHAN_SWEEPER_H_
#define MIDWIFE_STATESTORE_ORPHAN_SWEEPER_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "statestore/backup_store.h"

namespace midwife::statestore {

// Runs BackupStore::SweepOrphanChunks at start and then every `interval` on
// a thread of its own, until destroyed. A chunk is deleted at the second
// sweep that finds it unreferenced, so between `interval` and twice that
// after its writer died. Every frontend of a shared etcd cluster may run one:
// the sweeps' deletes are conditional, so they never race a writer or each
// other into harm.
class OrphanSweeper {
 public:
  // `store` must outlive this object.
  OrphanSweeper(BackupStore& store, std::chrono::milliseconds interval);
  ~OrphanSweeper();
  OrphanSweeper(const OrphanSweeper&) = delete;
  OrphanSweeper& operator=(const OrphanSweeper&) = delete;

 private:
  void Run();

  BackupStore& store_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_ORPHAN_SWEEPER_H_
