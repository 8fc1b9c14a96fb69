#ifndef MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_
#define MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
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
  explicit IoContextPool(int size) {
    for (int i = 0; i < std::max(1, size); ++i) {
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      boost::asio::steady_timer make_reactor(*contexts_.back());
      guards_.push_back(boost::asio::make_work_guard(*contexts_.back()));
    }
    for (auto& context : contexts_) threads_.emplace_back([c = context.get()] { c->run(); });
  }
  ~IoContextPool() { Stop(); }
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  // Thread-safe.
  boost::asio::io_context::executor_type Next() {
    return contexts_[next_++ % contexts_.size()]->get_executor();
  }

  // Stops every context and joins the threads; idempotent.
  void Stop() {
    guards_.clear();
    for (auto& context : contexts_) context->stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_SERVER_IO_CONTEXT_POOL_H_
