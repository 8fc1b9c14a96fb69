#ifndef MIDWIFE_BOOTSERVER_BOOT_BOOT_METRICS_H_
#define MIDWIFE_BOOTSERVER_BOOT_BOOT_METRICS_H_

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace midwife::bootserver {

// Counters and latency histograms of the boot server, rendered in the
// Prometheus text format at /metrics. Thread-safe; lock-free on the counters.
class BootMetrics {
 public:
  // Upper bounds of the latency buckets, seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

  // One request of `route` ("boot.ipxe", "boot.cfg", "module", ...): its
  // latency, and, when measured, the CPU its handler used on its thread
  // (rendering, cache lookups; not the zero-copy send of a body, which the
  // kernel does later). Routes never measured have no CPU counter.
  void Observe(const std::string& route, int status, double seconds, uint64_t bytes,
               std::optional<double> cpu_seconds = std::nullopt);
  // A boot phase of one host (proxydhcp, tftp, script, bootcfg, modules,
  // state, report) and how long it took since the previous phase.
  void ObservePhase(const std::string& phase, double seconds);
  void CountStoreFallback() { ++store_fallbacks_; }
  void CountBoot() { ++boots_; }
  // A boot the store did not answer, served a decision marked stale.
  void CountStaleFallback() { ++stale_fallbacks_; }
  // The store's change feed: one change of `kind` (head, host_deleted,
  // host_record, rules, resync) applied to the caches.
  void CountStoreChange(const std::string& kind);
  // Whether the change feed's stream is open now.
  void SetStoreWatchConnected(bool connected) { store_watch_connected_ = connected; }
  // A follow-up of a change (state: a new head fetched and rendered; head,
  // record, rules: read again to check the caches) and its result (ok,
  // stale, failed).
  void CountStoreFollowUp(const std::string& what, const std::string& result);
  // A host record that came with a HOST_RECORD change (no read needed) and
  // what it said of the cached decision (ok, stale, older).
  void CountChangeRecord(const std::string& result);
  // An answer about a host (head: a HEAD change or Stat; record: a record
  // change or read) older than what the caches held: not applied.
  void CountOlderAnswer(const std::string& what);

  // Extra lines (e.g. TFTP and DHCP counters) are appended by the caller.
  std::string Render() const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size() + 1> counts{};
    double sum = 0;
    uint64_t count = 0;
    void Add(double seconds);
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> bytes_;
  std::map<std::string, double> cpu_seconds_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, Histogram> phases_;
  std::atomic<uint64_t> store_fallbacks_{0};
  std::atomic<uint64_t> boots_{0};
  std::atomic<uint64_t> stale_fallbacks_{0};
  std::atomic<bool> store_watch_connected_{false};
  std::map<std::string, uint64_t> store_changes_;                       // by kind
  std::map<std::pair<std::string, std::string>, uint64_t> follow_ups_;  // by what, result
  std::map<std::string, uint64_t> change_records_;                      // by result
  std::map<std::string, uint64_t> older_answers_;                       // by what
};

}  // namespace midwife::bootserver

#endif  // MIDWIFE_BOOTSERVER_BOOT_BOOT_METRICS_H_
