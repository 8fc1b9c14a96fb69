#ifndef MIDWIFE_STATESTORE_HOST_REGISTRY_CLIENT_H_
#define MIDWIFE_STATESTORE_HOST_REGISTRY_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/status_macros.h"
#include "proto/hostregistry.grpc.pb.h"
#include "statestore/client_call.h"

namespace midwife::statestore {

// A thin, thread-safe client of the HostRegistry service (contract in
// proto/hostregistry.proto): one channel, errors as absl::Status with the
// server's code and message, retries as ClientOptions says. Every call is
// safe to retry except Rollback, which is retried only when the server
// refused it before acting.
class HostRegistryClient {
 public:
  static absl::StatusOr<std::unique_ptr<HostRegistryClient>> Connect(const ClientOptions& options);

  // Fills a random boot_id when the request has none, so that a retry after
  // a lost answer is not taken for a second boot (which would fail a trial).
  absl::StatusOr<v1::BootDecision> BeginBoot(v1::BootRequest request);
  // Several boots in one round trip (boot_ids filled as BeginBoot does);
  // UNIMPLEMENTED from a store older than the call.
  absl::StatusOr<v1::BootOutcomes> BeginBoots(v1::BootRequests requests);
  absl::StatusOr<v1::HostRecord> ReportBirth(const v1::ReportBirthRequest& request);
  absl::StatusOr<v1::HostRecord> Assign(const std::string& mac, const std::string& image);
  absl::StatusOr<v1::HostRecord> Unassign(const std::string& mac);
  absl::StatusOr<v1::HostRecord> Rollback(const std::string& mac);
  absl::StatusOr<v1::HostRecord> AddAlias(const std::string& mac, const std::string& alias_mac);
  absl::StatusOr<v1::HostRecord> GetHost(const std::string& mac);
  absl::StatusOr<v1::ListHostRecordsResponse> ListHosts(uint32_t page_size,
                                                        const std::string& page_token);
  // Newest first; `limit` 0: all kept.
  absl::StatusOr<std::vector<v1::HostEvent>> ListEvents(const std::string& mac, uint32_t limit = 0);
  // With expected_generation, a retry after a lost answer reports ABORTED
  // although the first attempt took effect; GetRules tells which.
  absl::StatusOr<v1::RuleSet> SetRules(const std::vector<v1::Rule>& rules,
                                       std::optional<uint64_t> expected_generation = std::nullopt);
  absl::StatusOr<v1::RuleSet> GetRules();
  // Not retried after a lost answer: a repeat would add the event twice.
  absl::StatusOr<v1::HostRecord> RecordEvent(const v1::RecordEventRequest& request);

  // Round trips to the server so far, retries included.
  uint64_t calls() const { return runner_.attempts(); }

 private:
  HostRegistryClient(const ClientOptions& options, const std::shared_ptr<grpc::Channel>& channel)
      : runner_(options), stub_(v1::HostRegistry::NewStub(channel)) {}

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::HostRegistry::Stub::*method)(grpc::ClientContext*,
                                                                               const Request&,
                                                                               Response*),
                                const Request& request,
                                CallRunner::Retry retry = CallRunner::Retry::kTransient) {
    Response response;
    RETURN_IF_ERROR(runner_.Run(
        [&] {
          auto context = runner_.NewContext();
          return (stub_.get()->*method)(context.get(), request, &response);
        },
        retry));
    return response;
  }

  CallRunner runner_;
  std::unique_ptr<v1::HostRegistry::Stub> stub_;
};

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_HOST_REGISTRY_CLIENT_H_
