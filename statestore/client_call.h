#ifndef MIDWIFE_STATESTORE_CLIENT_CALL_H_
#define MIDWIFE_STATESTORE_CLIENT_CALL_H_

// What every client of the state store's services shares: connection
// options, the channel, and how one call is attempted and retried.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace midwife::statestore {

struct ClientOptions {
  std::string server = "127.0.0.1:7411";
  std::string token;  // Admin or host token; sent as a bearer token.
  // TLS: trust this CA for the server; with cert and key, present them too.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::chrono::milliseconds deadline{30'000};  // Per attempt.
  // Attempts for a call refused as UNAVAILABLE or RESOURCE_EXHAUSTED (server
  // busy or restarting), with jittered exponential backoff from 20 ms.
  // Safe for every StateStore call: a repeated Backup of the same bytes is
  // answered with the version already stored.
  int max_attempts = 5;
};

// A channel with the options' TLS settings and the state store's message
// size bound. Fails only for unreadable TLS files; connecting is lazy.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ClientOptions& options);

// Runs calls with the options' deadline, token and retries. Thread-safe.
class CallRunner {
 public:
  enum class Retry {
    // UNAVAILABLE or RESOURCE_EXHAUSTED: for calls that are safe to repeat.
    kTransient,
    // RESOURCE_EXHAUSTED only, which the server answers before any effect;
    // UNAVAILABLE may follow a call that took effect and lost its answer.
    kNotApplied,
  };

  explicit CallRunner(ClientOptions options) : options_(std::move(options)) {}

  // A fresh context per attempt: deadline and bearer token set.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // Runs `call` (which must make a fresh context each time) until it
  // succeeds, fails for good, or runs out of attempts.
  absl::Status Run(const std::function<grpc::Status()>& call,
                   Retry retry = Retry::kTransient) const;
  const ClientOptions& options() const { return options_; }
  // Calls attempted so far (each one a round trip to the server).
  uint64_t attempts() const { return attempts_.load(std::memory_order_relaxed); }

 private:
  absl::Status Result(const grpc::Status& status) const;

  ClientOptions options_;
  mutable std::atomic<uint64_t> attempts_{0};
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_CLIENT_CALL_H_
