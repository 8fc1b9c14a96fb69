#ifndef MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_
#define MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace midwife::bootserver {

// N single-threaded io_contexts, each run by its own thread, handed out
// round-robin. For lock-step work (a TFTP transfer) that should stay on one
// thread: no hand-off between threads per packet, no scheduler locking.
class IoContextPool {
 public:
  // Each context gets its reactor (an epoll, an eventfd and a timerfd) here.
  // Asio would make it on the first socket or timer given to the context,
  // and that may come during a descriptor shortage: a connection accepted
  // onto a fresh context then throws from inside the accept's initiation,
  // which Asio runs in a noexcept await_suspend, and the process ends.
  // Throws boost::system::system_error if the descriptors cannot be had now.
  //
  // `idle_spin`: how long a thread that ran out of work may keep polling
  // for more before it sleeps, while its recent idle gaps were that short
  // (IdleSpinPolicy); zero: it sleeps at once.
  explicit IoContextPool(int size, std::chrono::microseconds idle_spin = {});
  ~IoContextPool() { Stop(); }
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  // Thread-safe.
  boost::asio::io_context::executor_type Next() {
    return contexts_[next_++ % contexts_.size()]->get_executor();
  }

  // Stops every context and joins the threads; idempotent.
  void Stop();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_
