// The two-bank state machine, one table row per transition: a record before,
// the calls made (with their time), the banks, decision and events after.
#include "statestore/bank_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace midwife::statestore {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'000'000;
constexpr int64_t kDeadline = 600'000;  // The 10 min default.
constexpr const char* A = "esxi@7.0u3";
constexpr const char* B = "esxi@8.0u2";
constexpr const char* C = "esxi@8.0u3";

enum class Op { kBoot, kReportOk, kReportFail, kAssign, kRollback, kUnassign };

struct Step {
  Step(Op op, std::string image = "", int64_t at = kT0) : op(op), image(std::move(image)), at(at) {}
  Op op;
  std::string image;  // Assign's image, a report's image, a boot's matching rule image.
  int64_t at;
};

struct Case {
  std::string name;
  v1::Bank active;
  v1::Bank alternate;
  std::vector<Step> steps;
  std::string want_active;  // "image:STATE", "" for empty.
  std::string want_alternate;
  std::string want_served;  // Last boot's "image@bank"; "discovered"; "" if no boot.
  bool want_fallback = false;
  std::vector<v1::HostEventKind> want_events;  // Appended by all steps, in order.
  std::string want_reason;                     // Substring of the last event's reason; "" for any.
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

v1::Bank Bank(const std::string& image, v1::BootState state, int64_t deadline = 0) {
  v1::Bank b;
  b.set_image(image);
  b.set_state(state);
  b.set_changed_unix_ms(kT0 - 1000);
  if (deadline) b.set_deadline_unix_ms(deadline);
  return b;
}
v1::Bank Attempted(const std::string& image, int64_t deadline = kT0 + kDeadline) {
  return Bank(image, v1::BOOT_STATE_ATTEMPTED, deadline);
}
const v1::Bank kEmpty;

std::string Show(const v1::Bank& b) {
  return b.image().empty() ? "" : absl::StrCat(b.image(), ":", BootStateName(b.state()));
}

struct Outcome {
  v1::HostRecord record;
  std::optional<v1::BootDecision> decision;
  absl::Status status;
};

Outcome Apply(const v1::Bank& active, const v1::Bank& alternate, const std::vector<Step>& steps) {
  Outcome out;
  out.record.set_mac("02:00:00:00:00:01");
  // Empty banks stay unset, as in a fresh record.
  if (!active.image().empty()) *out.record.mutable_active() = active;
  if (!alternate.image().empty()) *out.record.mutable_alternate() = alternate;
  for (const Step& s : steps) {
    Moment now{s.at, "02:00:00:00:00:01", "10.0.0.7"};
    v1::Rule rule;
    rule.set_name("fleet");
    rule.set_image(s.image);
    switch (s.op) {
      case Op::kBoot:
        out.decision = PlanBoot(out.record, s.image.empty() ? nullptr : &rule, BankPolicy{}, now);
        break;
      case Op::kReportOk:
      case Op::kReportFail:
        out.status = ApplyBirthReport(
            out.record, BirthReport{s.image, "22380479", s.op == Op::kReportOk, "PSOD"}, now);
        break;
      case Op::kAssign:
        ApplyAssign(out.record, s.image, now);
        break;
      case Op::kRollback:
        out.status = ApplyRollback(out.record, now);
        break;
      case Op::kUnassign:
        ApplyUnassign(out.record, now);
        break;
    }
  }
  return out;
}

using K = v1::HostEventKind;
constexpr K kAttempted = v1::HOST_EVENT_KIND_ATTEMPTED;
constexpr K kFailed = v1::HOST_EVENT_KIND_FAILED;
constexpr K kConfirmed = v1::HOST_EVENT_KIND_CONFIRMED;
constexpr K kBoot = v1::HOST_EVENT_KIND_BOOT;
constexpr K kPublished = v1::HOST_EVENT_KIND_PUBLISHED;
constexpr K kReport = v1::HOST_EVENT_KIND_REPORT;
constexpr K kRollback = v1::HOST_EVENT_KIND_ROLLBACK;
constexpr K kDiscovered = v1::HOST_EVENT_KIND_DISCOVERED;
constexpr K kUnassigned = v1::HOST_EVENT_KIND_UNASSIGNED;

const v1::BootState VALID = v1::BOOT_STATE_VALID, UPGRADING = v1::BOOT_STATE_UPGRADING,
                    INVALID = v1::BOOT_STATE_INVALID;
const std::string sA = A, sB = B, sC = C;

// Rows are laid out by hand: one transition per row reads better than the
// formatter's packing.
// clang-format off
std::vector<Case> Cases() {
  return {
      {"UpgradingTrialIsServedAndMarkedAttempted", Bank(A, VALID), Bank(B, UPGRADING),
       {{Op::kBoot}}, sA + ":VALID", sB + ":ATTEMPTED", sB + "@alternate", false, {kAttempted},
       "birth report due within 10 min"},
      {"BootWhileAttemptedMarksInvalidAndFallsBack", Bank(A, VALID), Attempted(B),
       {{Op::kBoot, "", kT0 + 5}}, sA + ":VALID", sB + ":INVALID", sA + "@active", true, {kFailed},
       "booted again before a birth report; falling back to esxi@7.0u3"},
      {"OkReportOnAttemptedMakesItValidAndActive", Bank(A, VALID), Attempted(B),
       {{Op::kReportOk, B}}, sB + ":VALID", sA + ":VALID", "", false, {kConfirmed},
       "esxi@7.0u3 kept as fallback"},
      {"FailureReportMarksInvalid", Bank(A, VALID), Attempted(B), {{Op::kReportFail, B}},
       sA + ":VALID", sB + ":INVALID", "", false, {kFailed}, "birth report of failure: PSOD"},
      {"DeadlinePassingBeforeTheBootFallsBack", Bank(A, VALID), Attempted(B, kT0 + 10),
       {{Op::kBoot, "", kT0 + 10}}, sA + ":VALID", sB + ":INVALID", sA + "@active", true,
       {kFailed}, "no birth report within"},
      {"OkReportAfterTheDeadlineDoesNotRevive", Bank(A, VALID), Attempted(B, kT0 + 10),
       {{Op::kReportOk, B, kT0 + 11}}, sA + ":VALID", sB + ":INVALID", "", false,
       {kFailed, kReport}, "is INVALID, not on trial; ignored"},
      {"InvalidTrialIsNotRetriedByLaterBoots", Bank(A, VALID), Bank(B, INVALID),
       {{Op::kBoot}, {Op::kBoot, B}}, sA + ":VALID", sB + ":INVALID", sA + "@active", true,
       {kBoot, kBoot}, "trial esxi@8.0u2 failed"},
      {"ReassigningAnInvalidImageRetriesIt", Bank(A, VALID), Bank(B, INVALID),
       {{Op::kAssign, B}, {Op::kBoot}}, sA + ":VALID", sB + ":ATTEMPTED", sB + "@alternate",
       false, {kPublished, kAttempted}, ""},
      {"RollbackFlipsTheBanks", Bank(B, VALID), Bank(A, VALID), {{Op::kRollback}},
       sA + ":VALID", sB + ":VALID", "", false, {kRollback}, "banks flipped by hand"},
      {"RollbackToAFailedTrialActivatesIt", Bank(A, VALID), Bank(B, INVALID), {{Op::kRollback}},
       sB + ":VALID", sA + ":VALID", "", false, {kRollback}, ""},
      {"NothingToFallBackToServesTheOnlyImageAgain", kEmpty, Attempted(B),
       {{Op::kBoot, "", kT0 + 5}}, "", sB + ":ATTEMPTED", sB + "@alternate", false,
       {kFailed, kAttempted}, "nothing to fall back to: serving its only image esxi@8.0u2 again"},
      {"OkReportConfirmsAnInvalidOnlyImage", kEmpty, Bank(B, INVALID), {{Op::kReportOk, B}},
       sB + ":VALID", "", "", false, {kConfirmed}, ""},
      {"SteadyBootServesTheActiveBank", Bank(A, VALID), kEmpty, {{Op::kBoot}}, sA + ":VALID", "",
       sA + "@active", false, {kBoot}, "serving esxi@7.0u3"},
      {"NoImageNoRuleIsDiscovered", kEmpty, kEmpty, {{Op::kBoot}}, "", "", "discovered", false,
       {kDiscovered}, "no image assigned and no rule matches"},
      {"RuleNamingANewImagePublishesAndTriesIt", Bank(A, VALID), Bank(B, VALID), {{Op::kBoot, C}},
       sA + ":VALID", sC + ":ATTEMPTED", sC + "@alternate", false, {kPublished, kAttempted}, ""},
      {"RuleNamingAnActiveImagePublishesNothing", Bank(A, VALID), kEmpty, {{Op::kBoot, A}},
       sA + ":VALID", "", sA + "@active", false, {kBoot}, ""},
      {"FirstImageByRuleThenReportBecomesActive", kEmpty, kEmpty,
       {{Op::kBoot, B}, {Op::kReportOk, ""}}, sB + ":VALID", "", sB + "@alternate", false,
       {kPublished, kAttempted, kConfirmed}, ""},
      {"NewTrialAfterFailureAtTheSameBoot", Bank(A, VALID), Attempted(B), {{Op::kBoot, C}},
       sA + ":VALID", sC + ":ATTEMPTED", sC + "@alternate", false,
       {kFailed, kPublished, kAttempted}, ""},
      {"AssigningTheActiveImageWithdrawsAPendingTrial", Bank(A, VALID), Bank(B, UPGRADING),
       {{Op::kAssign, A}, {Op::kBoot}}, sA + ":VALID", "", sA + "@active", false,
       {kPublished, kBoot}, ""},
      {"ReportOfTheActiveImageChangesNothing", Bank(A, VALID), Bank(B, VALID),
       {{Op::kReportOk, A}}, sA + ":VALID", sB + ":VALID", "", false, {kReport}, ""},
      {"FailureReportOfTheActiveImageKeepsTheBanks", Bank(A, VALID), Bank(B, VALID),
       {{Op::kReportFail, A}}, sA + ":VALID", sB + ":VALID", "", false, {kReport},
       "banks unchanged"},
      {"ReportOfAnUnknownImageIsIgnored", Bank(A, VALID), Attempted(B), {{Op::kReportOk, C}},
       sA + ":VALID", sB + ":ATTEMPTED", "", false, {kReport}, "neither bank holds esxi@8.0u3"},
      {"UnassignEmptiesBothBanks", Bank(A, VALID), Bank(B, INVALID), {{Op::kUnassign}, {Op::kBoot}},
       "", "", "discovered", false, {kUnassigned, kDiscovered}, ""},
  };
}
// clang-format on

class BankStateTest : public ::testing::TestWithParam<Case> {};

TEST_P(BankStateTest, Transition) {
  const Case& c = GetParam();
  Outcome out = Apply(c.active, c.alternate, c.steps);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(Show(out.record.active()), c.want_active);
  EXPECT_EQ(Show(out.record.alternate()), c.want_alternate);
  if (c.want_served.empty()) {
    EXPECT_FALSE(out.decision.has_value());
  } else {
    ASSERT_TRUE(out.decision.has_value());
    const v1::BootDecision& d = *out.decision;
    EXPECT_EQ(d.discovered() ? "discovered" : absl::StrCat(d.image(), "@", d.bank()),
              c.want_served);
    EXPECT_EQ(d.fallback(), c.want_fallback);
    EXPECT_EQ(out.record.served_image(), d.image());
    if (!d.discovered() && c.steps.back().op == Op::kBoot) {
      EXPECT_EQ(d.bootstate(), d.bank() == "active" ? out.record.active().state()
                                                    : out.record.alternate().state());
    }
  }
  std::vector<K> kinds;
  for (const auto& e : out.record.events()) kinds.push_back(e.kind());
  EXPECT_THAT(kinds, ElementsAreArray(c.want_events));
  if (!c.want_reason.empty()) {
    ASSERT_FALSE(out.record.events().empty());
    EXPECT_THAT(out.record.events().rbegin()->reason(), HasSubstr(c.want_reason));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BankStateTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BankState, AttemptSetsTheDeadlineAndEventsCarryTheTransition) {
  Outcome out = Apply(Bank(A, VALID), Bank(B, UPGRADING), {{Op::kBoot, "", kT0 + 7}});
  EXPECT_EQ(out.record.alternate().deadline_unix_ms(), kT0 + 7 + kDeadline);
  EXPECT_EQ(out.record.alternate().changed_unix_ms(), kT0 + 7);
  const v1::HostEvent& e = out.record.events(0);
  EXPECT_EQ(e.unix_ms(), kT0 + 7);
  EXPECT_EQ(e.mac(), "02:00:00:00:00:01");
  EXPECT_EQ(e.address(), "10.0.0.7");
  EXPECT_EQ(e.image(), B);
  EXPECT_EQ(e.from_state(), v1::BOOT_STATE_UPGRADING);
  EXPECT_EQ(e.to_state(), v1::BOOT_STATE_ATTEMPTED);
}

TEST(BankState, DeadlineIsTheOnePolicyGives) {
  v1::HostRecord r;
  *r.mutable_alternate() = Bank(B, UPGRADING);
  PlanBoot(r, nullptr, BankPolicy{90'000}, Moment{kT0, "", ""});
  EXPECT_EQ(r.alternate().deadline_unix_ms(), kT0 + 90'000);
  EXPECT_FALSE(ExpireTrial(r, Moment{kT0 + 89'999, "", ""}));
  EXPECT_TRUE(ExpireTrial(r, Moment{kT0 + 90'000, "", ""}));
  EXPECT_EQ(r.alternate().state(), v1::BOOT_STATE_INVALID);
}

TEST(BankState, RollbackWithEmptyAlternateIsRefused) {
  Outcome out = Apply(Bank(A, VALID), kEmpty, {{Op::kRollback}});
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(out.status.message(), HasSubstr("no alternate image"));
  EXPECT_EQ(Show(out.record.active()), sA + ":VALID");
}

TEST(BankState, ReportNamingNoImageForAHostNeverServedIsRefused) {
  Outcome out = Apply(kEmpty, kEmpty, {{Op::kReportOk, ""}});
  EXPECT_EQ(out.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(out.record.events().empty());
}

TEST(BankState, KeepsOnlyTheNewestEvents) {
  std::vector<Step> boots;
  for (int i = 0; i < 100; ++i) boots.push_back({Op::kBoot, "", kT0 + i});
  Outcome out = Apply(Bank(A, VALID), kEmpty, boots);
  ASSERT_EQ(out.record.events_size(), kMaxEventsPerHost);
  EXPECT_EQ(out.record.events(0).unix_ms(), kT0 + 100 - kMaxEventsPerHost);
  EXPECT_EQ(out.record.events(kMaxEventsPerHost - 1).unix_ms(), kT0 + 99);
}

}  // namespace
}  // namespace midwife::statestore
