#include "bootserver/boot/boot_metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace midwife::bootserver {

void BootMetrics::Histogram::Add(double seconds) {
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  ++counts[i];
  sum += seconds;
  ++count;
}

void BootMetrics::Observe(const std::string& route, int status, double seconds, uint64_t bytes,
                          std::optional<double> cpu_seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  bytes_[route] += bytes;
  if (cpu_seconds) cpu_seconds_[route] += *cpu_seconds;
  latency_[route].Add(seconds);
}

void BootMetrics::ObservePhase(const std::string& phase, double seconds) {
  std::lock_guard lock(mu_);
  phases_[phase].Add(seconds);
}

void BootMetrics::CountStoreChange(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++store_changes_[kind];
}

void BootMetrics::CountStoreFollowUp(const std::string& what, const std::string& result) {
  std::lock_guard lock(mu_);
  ++follow_ups_[{what, result}];
}

void BootMetrics::CountChangeRecord(const std::string& result) {
  std::lock_guard lock(mu_);
  ++change_records_[result];
}

void BootMetrics::CountOlderAnswer(const std::string& what) {
  std::lock_guard lock(mu_);
  ++older_answers_[what];
}

namespace {
void RenderHistogram(std::string& out, const std::string& name, const std::string& label_name,
                     const std::string& label, const auto& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < BootMetrics::kBuckets.size(); ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(&out, name, "_bucket{", label_name, "=\"", label, "\",le=\"",
                    absl::StrFormat("%g", BootMetrics::kBuckets[i]), "\"} ", cumulative, "\n");
  }
  cumulative += h.counts.back();
  absl::StrAppend(&out, name, "_bucket{", label_name, "=\"", label, "\",le=\"+Inf\"} ", cumulative, "\n");
  absl::StrAppend(&out, name, "_sum{", label_name, "=\"", label, "\"} ", absl::StrFormat("%.6f", h.sum), "\n");
  absl::StrAppend(&out, name, "_count{", label_name, "=\"", label, "\"} ", h.count, "\n");
}
}  // namespace

std::string BootMetrics::Render() const {
  std::string out;
  absl::StrAppend(&out, "# TYPE midwife_boots_total counter\nmidwife_boots_total ", boots_.load(), "\n");
  absl::StrAppend(&out, "# TYPE midwife_store_fallbacks_total counter\nmidwife_store_fallbacks_total ",
                  store_fallbacks_.load(), "\n");
  absl::StrAppend(
      &out,
      "# HELP midwife_store_stale_fallbacks_total Boots the store did not answer that got a "
      "cached decision the change feed had marked stale.\n"
      "# TYPE midwife_store_stale_fallbacks_total counter\nmidwife_store_stale_fallbacks_total ",
      stale_fallbacks_.load(), "\n");
  absl::StrAppend(
      &out,
      "# HELP midwife_store_watch_connected 1 while the state store's change feed is open.\n"
      "# TYPE midwife_store_watch_connected gauge\nmidwife_store_watch_connected ",
      store_watch_connected_.load() ? 1 : 0, "\n");
  std::lock_guard lock(mu_);
  out +=
      "# HELP midwife_store_changes_total Changes of the state store's data applied to the "
      "caches.\n";
  out += "# TYPE midwife_store_changes_total counter\n";
  for (const auto& [kind, n] : store_changes_) {
    absl::StrAppend(&out, "midwife_store_changes_total{kind=\"", kind, "\"} ", n, "\n");
  }
  out += "# HELP midwife_store_follow_ups_total Reads of the state store a change led to.\n";
  out += "# TYPE midwife_store_follow_ups_total counter\n";
  for (const auto& [key, n] : follow_ups_) {
    absl::StrAppend(&out, "midwife_store_follow_ups_total{what=\"", key.first, "\",result=\"",
                    key.second, "\"} ", n, "\n");
  }
  out +=
      "# HELP midwife_store_change_records_total Host records that came with their change (no "
      "read), by what they said of the cached decision.\n";
  out += "# TYPE midwife_store_change_records_total counter\n";
  for (const auto& [result, n] : change_records_) {
    absl::StrAppend(&out, "midwife_store_change_records_total{result=\"", result, "\"} ", n, "\n");
  }
  out +=
      "# HELP midwife_store_older_answers_total Answers about a host older than what the caches "
      "held, not applied.\n";
  out += "# TYPE midwife_store_older_answers_total counter\n";
  for (const auto& [what, n] : older_answers_) {
    absl::StrAppend(&out, "midwife_store_older_answers_total{what=\"", what, "\"} ", n, "\n");
  }
  out += "# TYPE midwife_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    absl::StrAppend(&out, "midwife_http_requests_total{route=\"", key.first, "\",code=\"", key.second, "\"} ", n, "\n");
  }
  out += "# TYPE midwife_http_handler_cpu_seconds_total counter\n";
  for (const auto& [route, cpu] : cpu_seconds_) {
    absl::StrAppend(&out, "midwife_http_handler_cpu_seconds_total{route=\"", route, "\"} ",
                    absl::StrFormat("%.6f", cpu), "\n");
  }
  out += "# TYPE midwife_http_bytes_total counter\n";
  for (const auto& [route, n] : bytes_) {
    absl::StrAppend(&out, "midwife_http_bytes_total{route=\"", route, "\"} ", n, "\n");
  }
  out += "# TYPE midwife_http_request_seconds histogram\n";
  for (const auto& [route, h] : latency_) RenderHistogram(out, "midwife_http_request_seconds", "route", route, h);
  out += "# TYPE midwife_boot_phase_seconds histogram\n";
  for (const auto& [phase, h] : phases_) RenderHistogram(out, "midwife_boot_phase_seconds", "phase", phase, h);
  return out;
}

}  // namespace midwife::bootserver
