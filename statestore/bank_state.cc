#include "statestore/bank_state.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace midwife::statestore {
namespace {

using v1::BootState;

std::string Duration(int64_t ms) {
  if (ms % 60'000 == 0) return absl::StrCat(ms / 60'000, " min");
  return absl::StrCat((ms + 999) / 1000, " s");
}

void Record(v1::HostRecord& record, const Moment& now, v1::HostEventKind kind,
            const std::string& image, std::optional<BootState> from, std::optional<BootState> to,
            std::string reason) {
  v1::HostEvent event;
  event.set_unix_ms(now.unix_ms);
  event.set_mac(now.mac);
  event.set_address(now.address);
  event.set_kind(kind);
  if (from) event.set_from_state(*from);
  if (to) event.set_to_state(*to);
  event.set_image(image);
  event.set_reason(std::move(reason));
  AppendEvent(record, std::move(event));
}

void SetState(v1::Bank& bank, BootState state, const Moment& now) {
  bank.set_state(state);
  bank.set_changed_unix_ms(now.unix_ms);
  bank.clear_deadline_unix_ms();
}

// Marks the trial INVALID and records why, saying what the host gets instead.
void FailTrial(v1::HostRecord& record, std::string why, const Moment& now) {
  v1::Bank& trial = *record.mutable_alternate();
  const BootState from = trial.state();
  SetState(trial, v1::BOOT_STATE_INVALID, now);
  const std::string& fallback = record.active().image();
  absl::StrAppend(&why, fallback.empty() ? "; nothing to fall back to"
                                         : absl::StrCat("; falling back to ", fallback));
  Record(record, now, v1::HOST_EVENT_KIND_FAILED, trial.image(), from, v1::BOOT_STATE_INVALID,
         std::move(why));
}

// Serves the alternate bank as a trial: ATTEMPTED until a report or the deadline.
void Attempt(v1::HostRecord& record, const BankPolicy& policy, std::string why, const Moment& now) {
  v1::Bank& trial = *record.mutable_alternate();
  const BootState from = trial.state();
  SetState(trial, v1::BOOT_STATE_ATTEMPTED, now);
  trial.set_deadline_unix_ms(now.unix_ms + policy.report_deadline_ms);
  absl::StrAppend(&why, "; birth report due within ", Duration(policy.report_deadline_ms));
  Record(record, now, v1::HOST_EVENT_KIND_ATTEMPTED, trial.image(), from, v1::BOOT_STATE_ATTEMPTED,
         std::move(why));
}

void Serve(v1::BootDecision& decision, const v1::Bank& bank, std::string_view which,
           std::string reason) {
  decision.set_image(bank.image());
  decision.set_bank(std::string(which));
  decision.set_bootstate(bank.state());
  decision.set_reason(std::move(reason));
}

}  // namespace

const char* BootStateName(BootState state) {
  switch (state) {
    case v1::BOOT_STATE_VALID:
      return "VALID";
    case v1::BOOT_STATE_UPGRADING:
      return "UPGRADING";
    case v1::BOOT_STATE_ATTEMPTED:
      return "ATTEMPTED";
    case v1::BOOT_STATE_INVALID:
      return "INVALID";
    default:
      return "UNKNOWN";
  }
}

void AppendEvent(v1::HostRecord& record, v1::HostEvent event) {
  *record.add_events() = std::move(event);
  const int excess = record.events_size() - kMaxEventsPerHost;
  if (excess > 0) record.mutable_events()->DeleteSubrange(0, excess);
}

bool ExpireTrial(v1::HostRecord& record, const Moment& now) {
  const v1::Bank& trial = record.alternate();
  if (trial.image().empty() || trial.state() != v1::BOOT_STATE_ATTEMPTED ||
      now.unix_ms < trial.deadline_unix_ms()) {
    return false;
  }
  FailTrial(
      record,
      absl::StrCat("no birth report within ",
                   Duration(trial.deadline_unix_ms() - trial.changed_unix_ms()), " of serving it"),
      now);
  return true;
}

void Publish(v1::HostRecord& record, const std::string& image, std::string_view why,
             const Moment& now) {
  v1::Bank& alternate = *record.mutable_alternate();
  std::optional<BootState> from;
  std::string reason(why);
  if (alternate.image() == image) {
    from = alternate.state();
  } else if (!alternate.image().empty()) {
    absl::StrAppend(&reason, "; replaces ", alternate.image(), " (",
                    BootStateName(alternate.state()), ") in the alternate bank");
  }
  alternate.Clear();
  alternate.set_image(image);
  SetState(alternate, v1::BOOT_STATE_UPGRADING, now);
  Record(record, now, v1::HOST_EVENT_KIND_PUBLISHED, image, from, v1::BOOT_STATE_UPGRADING,
         std::move(reason));
}

v1::BootDecision PlanBoot(v1::HostRecord& record, const v1::Rule* rule, const BankPolicy& policy,
                          const Moment& now) {
  // Mutable on purpose: a const reference to an unset field is the default
  // instance, which would not see the bank Publish creates below.
  const v1::Bank& active = *record.mutable_active();
  const v1::Bank& alternate = *record.mutable_alternate();
  bool failed_now = ExpireTrial(record, now);
  if (!failed_now && !alternate.image().empty() && alternate.state() == v1::BOOT_STATE_ATTEMPTED) {
    FailTrial(record, "booted again before a birth report", now);
    failed_now = true;
  }
  // Says why this very boot falls back; later boots give the standing reason.
  const std::string failure = failed_now ? record.events().rbegin()->reason() : "";
  if (rule != nullptr && rule->image() != active.image() && rule->image() != alternate.image()) {
    Publish(record, rule->image(), absl::StrCat("rule \"", rule->name(), "\" names it"), now);
  }

  v1::BootDecision decision;
  decision.set_mac(record.mac());
  if (!alternate.image().empty() && alternate.state() == v1::BOOT_STATE_UPGRADING) {
    std::string why = absl::StrCat("trial boot of ", alternate.image());
    Attempt(record, policy, why, now);
    absl::StrAppend(&why, active.image().empty()
                              ? "; nothing to fall back to"
                              : absl::StrCat("; falls back to ", active.image()));
    Serve(decision, alternate, "alternate", std::move(why));
  } else if (!active.image().empty()) {
    const bool trial_failed =
        !alternate.image().empty() && alternate.state() == v1::BOOT_STATE_INVALID;
    decision.set_fallback(trial_failed);
    std::string why = !failure.empty() ? failure
                      : trial_failed
                          ? absl::StrCat("trial ", alternate.image(), " failed; serving ",
                                         active.image(), " until a new image is assigned")
                          : absl::StrCat("serving ", active.image());
    // After a failure this boot, the FAILED event already tells its story.
    if (!failed_now) {
      Record(record, now, v1::HOST_EVENT_KIND_BOOT, active.image(), active.state(), active.state(),
             why);
    }
    Serve(decision, active, "active", std::move(why));
  } else if (!alternate.image().empty() && alternate.state() == v1::BOOT_STATE_VALID) {
    std::string why = absl::StrCat("serving ", alternate.image(), " from the alternate bank");
    Record(record, now, v1::HOST_EVENT_KIND_BOOT, alternate.image(), alternate.state(),
           alternate.state(), why);
    Serve(decision, alternate, "alternate", std::move(why));
  } else if (!alternate.image().empty()) {
    // A failed image with no fallback still beats not booting: try it again,
    // so that a birth report can still confirm it.
    std::string why = absl::StrCat("nothing to fall back to: serving its only image ",
                                   alternate.image(), " again");
    Attempt(record, policy, why, now);
    Serve(decision, alternate, "alternate", std::move(why));
  } else {
    decision.set_discovered(true);
    decision.set_reason("no image assigned and no rule matches");
    Record(record, now, v1::HOST_EVENT_KIND_DISCOVERED, "", std::nullopt, std::nullopt,
           decision.reason());
  }
  record.set_discovered(decision.discovered());
  record.set_served_image(decision.image());
  return decision;
}

void ApplyAssign(v1::HostRecord& record, const std::string& image, const Moment& now) {
  ExpireTrial(record, now);
  record.set_assigned_image(image);
  if (image != record.active().image()) {
    Publish(record, image, "assigned", now);
    return;
  }
  v1::Bank& alternate = *record.mutable_alternate();
  const BootState pending = alternate.state();
  if (!alternate.image().empty() &&
      (pending == v1::BOOT_STATE_UPGRADING || pending == v1::BOOT_STATE_ATTEMPTED)) {
    const std::string withdrawn = alternate.image();
    alternate.Clear();
    Record(record, now, v1::HOST_EVENT_KIND_PUBLISHED, withdrawn, pending, std::nullopt,
           absl::StrCat("trial withdrawn: ", image, " assigned, which is already active"));
    return;
  }
  Record(record, now, v1::HOST_EVENT_KIND_PUBLISHED, image, record.active().state(),
         record.active().state(), "assigned; already active");
}

void ApplyUnassign(v1::HostRecord& record, const Moment& now) {
  Record(record, now, v1::HOST_EVENT_KIND_UNASSIGNED, record.active().image(), std::nullopt,
         std::nullopt,
         absl::StrCat("banks emptied by hand (active \"", record.active().image(),
                      "\", alternate \"", record.alternate().image(), "\")"));
  record.clear_active();
  record.clear_alternate();
  record.clear_assigned_image();
}

absl::Status ApplyRollback(v1::HostRecord& record, const Moment& now) {
  ExpireTrial(record, now);
  if (record.alternate().image().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("host ", record.mac(), " has no alternate image to roll back to"));
  }
  const BootState from = record.alternate().state();
  record.mutable_active()->Swap(record.mutable_alternate());
  SetState(*record.mutable_active(), v1::BOOT_STATE_VALID, now);
  Record(record, now, v1::HOST_EVENT_KIND_ROLLBACK, record.active().image(), from,
         v1::BOOT_STATE_VALID,
         absl::StrCat("banks flipped by hand: ", record.active().image(), " active",
                      record.alternate().image().empty()
                          ? ""
                          : absl::StrCat(", ", record.alternate().image(), " alternate")));
  return absl::OkStatus();
}

absl::Status ApplyBirthReport(v1::HostRecord& record, const BirthReport& report,
                              const Moment& now) {
  ExpireTrial(record, now);
  const std::string image = report.image.empty() ? record.served_image() : report.image;
  if (image.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("birth report of ", record.mac(),
                                                      " names no image and none was served to it"));
  }
  record.set_last_report_unix_ms(now.unix_ms);
  const std::string message = report.message.substr(0, kMaxReportMessageBytes);
  std::string said = report.ok ? std::string("birth report: up")
                               : absl::StrCat("birth report of failure: ", message);
  if (report.ok && !report.build.empty()) absl::StrAppend(&said, " (build ", report.build, ")");
  v1::Bank& alternate = *record.mutable_alternate();
  const bool is_trial = alternate.image() == image;
  const BootState state = alternate.state();
  const bool confirmable =
      is_trial && (state == v1::BOOT_STATE_ATTEMPTED ||
                   (state == v1::BOOT_STATE_INVALID && record.active().image().empty()));
  if (confirmable && report.ok) {
    SetState(alternate, v1::BOOT_STATE_VALID, now);
    alternate.set_build(report.build);
    record.mutable_active()->Swap(&alternate);
    Record(record, now, v1::HOST_EVENT_KIND_CONFIRMED, image, state, v1::BOOT_STATE_VALID,
           absl::StrCat(said, "; now active",
                        alternate.image().empty()
                            ? ""
                            : absl::StrCat(", ", alternate.image(), " kept as fallback")));
    return absl::OkStatus();
  }
  if (confirmable && state == v1::BOOT_STATE_ATTEMPTED) {
    FailTrial(record, said, now);
    return absl::OkStatus();
  }
  std::string why = said;
  std::optional<BootState> current;
  if (record.active().image() == image) {
    current = record.active().state();
    if (report.ok && !report.build.empty()) record.mutable_active()->set_build(report.build);
    if (!report.ok)
      absl::StrAppend(&why, "; the active image; banks unchanged (Rollback to switch)");
  } else if (is_trial) {
    current = state;
    absl::StrAppend(&why, "; ", image, " is ", BootStateName(state), ", not on trial; ignored");
  } else {
    absl::StrAppend(&why, "; neither bank holds ", image, "; ignored");
  }
  Record(record, now, v1::HOST_EVENT_KIND_REPORT, image, current, current, std::move(why));
  return absl::OkStatus();
}

}  // namespace midwife::statestore
