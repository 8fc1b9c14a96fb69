#ifndef MIDWIFE_STATESTORE_BLOCKING_POOL_H_
#define MIDWIFE_STATESTORE_BLOCKING_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace midwife::statestore {

// Threads for work that blocks (a synced storage commit), run on behalf of
// gRPC callback reactors, whose own threads must never block: gRPC 1.51
// runs every reaction of a server on a couple of threads, so one fsync there
// stalls every call. Many threads, because concurrent commits share one
// fsync (RocksDB's write group) only when they are in flight together.
// Thread-safe.
class BlockingPool {
 public:
  // REQUIRES: threads >= 1.
  explicit BlockingPool(int threads);
  // Runs what is queued, then joins the threads.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `work` for the next free thread.
  void Run(std::function<void()> work);

 private:
  void Serve();

  std::mutex mu_;
  std::condition_variable queued_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_BLOCKING_POOL_H_
