#ifndef MIDWIFE_STATESTORE_BANK_STATE_H_
#define MIDWIFE_STATESTORE_BANK_STATE_H_

// The two-bank state machine of a host record (ESXi's bootstate; semantics
// in proto/hostregistry.proto), as pure functions over v1::HostRecord with
// the time given explicitly. Each function applies one call's transitions and
// appends one event per transition (or one BOOT/REPORT event when nothing
// changed), so the record's history explains every bank it serves.
//
// Invariants kept: the active bank is never UPGRADING or ATTEMPTED; only the
// alternate bank holds a trial; a trial that fails stays in the alternate
// bank as INVALID, so a rule naming it does not publish it again.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "proto/hostregistry.pb.h"

namespace midwife::statestore {

// How long a served trial may go without a birth report (flag
// --report-deadline-seconds, default 10 minutes: an ESXi host with many
// modules takes 3-5 minutes to report over a slow link).
inline constexpr int64_t kDefaultReportDeadlineMs = 10 * 60 * 1000;
// Events kept per host, newest; older ones are dropped.
inline constexpr int kMaxEventsPerHost = 64;
// Longest birth report message kept.
inline constexpr size_t kMaxReportMessageBytes = 1024;

// Who and when: stamped on the events a call records.
struct Moment {
  int64_t unix_ms = 0;
  std::string mac;      // The MAC that made the call (may be an alias).
  std::string address;  // Client address, if the call carried one.
};

struct BankPolicy {
  int64_t report_deadline_ms = kDefaultReportDeadlineMs;
};

struct BirthReport {
  std::string image;  // Empty: the image last served to the host.
  std::string build;
  bool ok = false;
  std::string message;
};

// "VALID", "UPGRADING", "ATTEMPTED", "INVALID".
const char* BootStateName(v1::BootState state);

// Appends `event`, dropping the oldest beyond kMaxEventsPerHost.
void AppendEvent(v1::HostRecord& record, v1::HostEvent event);

// Marks an ATTEMPTED trial INVALID when its deadline has passed at `now`.
// Returns true if it did. Every Apply* and PlanBoot call this first.
bool ExpireTrial(v1::HostRecord& record, const Moment& now);

// Puts `image` in the alternate bank as UPGRADING, replacing what is there
// (so publishing an INVALID image again retries it). `why` starts the event's
// reason. REQUIRES: image is not the active bank's image.
void Publish(v1::HostRecord& record, const std::string& image, std::string_view why,
             const Moment& now);

// One boot: expires or fails a pending trial (a boot while ATTEMPTED), then
// publishes `rule`'s image if neither bank holds it, then serves: an
// UPGRADING trial (now ATTEMPTED), else the active bank (fallback=true while
// the alternate is a failed trial), else the only image there is (again as
// an attempt), else nothing (discovered). Sets served_image and discovered;
// leaves facts, counters and host_token to the caller. `rule` is the first
// matching rule or nullptr; pass nullptr for a host with an assigned image.
v1::BootDecision PlanBoot(v1::HostRecord& record, const v1::Rule* rule, const BankPolicy& policy,
                          const Moment& now);

// Assign: records the assignment and publishes `image`; if it is already
// the active image, withdraws a pending trial instead.
void ApplyAssign(v1::HostRecord& record, const std::string& image, const Moment& now);

// Unassign: empties both banks and the assignment.
void ApplyUnassign(v1::HostRecord& record, const Moment& now);

// Rollback: flips the banks by hand; the new active bank is VALID.
// FAILED_PRECONDITION when the alternate bank is empty.
absl::Status ApplyRollback(v1::HostRecord& record, const Moment& now);

// A birth report. ok on the ATTEMPTED trial: VALID and active (the old
// active becomes the alternate). Not ok on it: INVALID. ok on an INVALID
// image with nothing to fall back to confirms it too, since it is served
// anyway. Anything else (the active image, a stale or unknown image) only
// records a REPORT event. FAILED_PRECONDITION when the report names no image
// and the host was never served one.
absl::Status ApplyBirthReport(v1::HostRecord& record, const BirthReport& report, const Moment& now);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_BANK_STATE_H_
