#ifndef MIDWIFE_STATESTORE_CALL_WATCHDOG_H_
#define MIDWIFE_STATESTORE_CALL_WATCHDOG_H_

#include <grpcpp/server_context.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace midwife::statestore {

// Cancels calls that run longer than a bound. gRPC's sync API blocks a
// server thread in Read() for as long as a client keeps a stream open, and a
// client may set no deadline at all: without this, a silent client holds a
// thread forever. Thread-safe.
class CallWatchdog {
 public:
  explicit CallWatchdog(std::chrono::milliseconds max_call);
  ~CallWatchdog();
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  // Watches `context` from construction to destruction of the guard.
  class Guard {
   public:
    Guard(CallWatchdog& watchdog, grpc::ServerContextBase* context);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    CallWatchdog& watchdog_;
    uint64_t id_;
  };

 private:
  void Run();

  const std::chrono::milliseconds max_call_;
  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t next_id_ = 0;
  // By id, which grows with time, so the first entry expires first.
  std::map<uint64_t, std::pair<std::chrono::steady_clock::time_point, grpc::ServerContextBase*>> calls_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_CALL_WATCHDOG_H_
