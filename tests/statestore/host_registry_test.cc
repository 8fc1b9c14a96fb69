#include "statestore/host_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proto/statestore_records.pb.h"
#include "statestore/key_layout.h"
#include "tests/statestore/memory_storage_engine.h"

namespace midwife::statestore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MemoryStorageEngine;

MacAddress Mac(const char* text) { return *MacAddress::Parse(text); }
const char* kHost = "02:00:00:00:00:01";
const char* kNic2 = "02:00:00:00:00:02";
const char* kOther = "02:00:00:00:00:09";

// Counts the reads a call makes, to hold BeginBoot to its budget.
class CountingEngine : public StorageEngine {
 public:
  explicit CountingEngine(StorageEngine& inner) : inner_(inner) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    ++gets;
    return inner_.Get(key);
  }
  absl::StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view after,
                                             size_t limit) override {
    return inner_.Scan(prefix, after, limit);
  }
  absl::Status Commit(const std::vector<Precondition>& pre, const WriteBatch& batch) override {
    ++commits;
    return inner_.Commit(pre, batch);
  }
  int gets = 0;
  int commits = 0;

 private:
  StorageEngine& inner_;
};

v1::HostFacts Facts(const char* address) {
  v1::HostFacts f;
  f.set_address(address);
  f.set_arch(7);
  f.set_manufacturer("Dell Inc.");
  return f;
}

v1::Rule Rule(const char* name, const char* image, const char* cidr = "") {
  v1::Rule r;
  r.set_name(name);
  r.set_image(image);
  r.set_cidr(cidr);
  return r;
}

v1::RuleSet Rules(std::initializer_list<v1::Rule> rules) {
  v1::RuleSet set;
  for (const auto& r : rules) *set.add_rules() = r;
  return set;
}

class HostRegistryTest : public ::testing::Test {
 protected:
  HostRegistryOptions Options() {
    HostRegistryOptions o;
    o.now_unix_ms = [this] { return now_; };
    return o;
  }
  v1::BootDecision Boot(const char* mac, const char* address = "10.0.0.5",
                        const std::string& boot_id = "") {
    auto d = registry_.BeginBoot(Mac(mac), Facts(address), boot_id);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::BootDecision();
  }
  v1::HostRecord Get(const char* mac) {
    auto r = registry_.GetHost(Mac(mac));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::HostRecord();
  }

  MemoryStorageEngine engine_;
  int64_t now_ = 1'000'000;
  HostRegistry registry_{engine_, Options()};
};

TEST_F(HostRegistryTest, UnknownHostIsRecordedAsDiscovered) {
  v1::BootDecision d = Boot(kHost);
  EXPECT_TRUE(d.discovered());
  EXPECT_EQ(d.mac(), kHost);
  EXPECT_THAT(d.reason(), HasSubstr("no rule matches"));
  v1::HostRecord r = Get(kHost);
  EXPECT_TRUE(r.discovered());
  EXPECT_EQ(r.facts().address(), "10.0.0.5");
  EXPECT_EQ(r.facts().arch(), 7u);
  EXPECT_EQ(r.first_seen_unix_ms(), now_);
  now_ += 5;
  Boot(kHost);
  r = Get(kHost);
  EXPECT_EQ(r.first_seen_unix_ms(), now_ - 5);
  EXPECT_EQ(r.last_seen_unix_ms(), now_);
  EXPECT_EQ(r.boot_count(), 2u);
  auto page = registry_.ListHosts(0, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hosts.size(), 1u);
  EXPECT_TRUE(page->hosts[0].discovered());
  EXPECT_EQ(page->hosts[0].events_size(), 0) << "ListHosts leaves events to ListEvents";
}

TEST_F(HostRegistryTest, FactsMergeAndAreBounded) {
  Boot(kHost);
  v1::HostFacts later;
  later.set_serial(std::string(1000, 'S'));
  ASSERT_TRUE(registry_.BeginBoot(Mac(kHost), later, "").ok());
  v1::HostRecord r = Get(kHost);
  EXPECT_EQ(r.facts().manufacturer(), "Dell Inc.") << "an absent fact keeps its value";
  EXPECT_EQ(r.facts().serial().size(), kMaxFieldBytes);
}

TEST_F(HostRegistryTest, SteadyBootIsOneGetAndOneCommit) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  CountingEngine counting(engine_);
  HostRegistry registry(counting, Options());
  ASSERT_TRUE(registry.BeginBoot(Mac(kHost), Facts("10.0.0.5"), "").ok());
  EXPECT_EQ(counting.gets, 1) << "an assigned host needs no rules";
  EXPECT_EQ(counting.commits, 1);

  ASSERT_TRUE(registry.BeginBoot(Mac(kOther), Facts("10.0.0.6"), "").ok());
  ASSERT_TRUE(registry.BeginBoot(Mac(kOther), Facts("10.0.0.6"), "").ok());
  EXPECT_EQ(counting.gets, 1 + 2 + 1) << "rules are read once, then cached";
  EXPECT_EQ(counting.commits, 3);
}

TEST_F(HostRegistryTest, AliasBootsAsItsPrimaryInTwoGets) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  auto added = registry_.AddAlias(Mac(kHost), Mac(kNic2));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->aliases(), ElementsAre(kNic2));

  CountingEngine counting(engine_);
  HostRegistry registry(counting, Options());
  auto d = registry.BeginBoot(Mac("02-00-00-00-00-02"), Facts("10.0.0.5"), "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(counting.gets, 2);
  EXPECT_EQ(d->mac(), kHost);
  EXPECT_EQ(d->image(), "esxi@8");
  v1::HostRecord r = Get(kNic2);
  EXPECT_EQ(r.mac(), kHost);
  EXPECT_EQ(r.boot_count(), 1u);
  EXPECT_EQ(r.events().rbegin()->mac(), kNic2) << "events name the MAC that booted";

  auto page = registry_.ListHosts(0, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hosts.size(), 1u) << "an alias is listed with its host only";
}

TEST_F(HostRegistryTest, AddAliasIsIdempotentAndRefusesConflicts) {
  ASSERT_TRUE(registry_.AddAlias(Mac(kHost), Mac(kNic2)).ok());
  auto again = registry_.AddAlias(Mac(kNic2), Mac(kNic2));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kInvalidArgument);
  auto repeat = registry_.AddAlias(Mac(kHost), Mac(kNic2));
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->aliases_size(), 1);

  auto stolen = registry_.AddAlias(Mac(kOther), Mac(kNic2));
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stolen.status().message(), HasSubstr("already an alias of 02:00:00:00:00:01"));

  ASSERT_TRUE(registry_.Assign(Mac(kOther), "esxi@8").ok());
  auto busy = registry_.AddAlias(Mac(kHost), Mac(kOther));
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(busy.status().message(), HasSubstr("Unassign it first"));
}

TEST_F(HostRegistryTest, AliasReplacesTheRecordOfANicThatOnlyWasDiscovered) {
  Boot(kNic2);
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  auto added = registry_.AddAlias(Mac(kHost), Mac(kNic2));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->events().rbegin()->reason(),
              HasSubstr("its own record (1 boots) is replaced"));
  EXPECT_EQ(Boot(kNic2).image(), "esxi@8");
}

TEST_F(HostRegistryTest, RuleImageIsPublishedAtBoot) {
  ASSERT_TRUE(registry_.SetRules(Rules({Rule("lab", "esxi@8", "10.0.0.0/24")}), {}).ok());
  EXPECT_TRUE(Boot(kOther, "192.168.1.1").discovered());
  v1::BootDecision d = Boot(kHost, "10.0.0.5");
  EXPECT_EQ(d.image(), "esxi@8");
  EXPECT_EQ(d.bank(), "alternate");
  EXPECT_EQ(d.bootstate(), v1::BOOT_STATE_ATTEMPTED);
}

TEST_F(HostRegistryTest, AssignedHostIgnoresRules) {
  ASSERT_TRUE(registry_.SetRules(Rules({Rule("all", "esxi@8")}), {}).ok());
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@7").ok());
  EXPECT_EQ(Boot(kHost).image(), "esxi@7");
  ASSERT_TRUE(registry_.Unassign(Mac(kHost)).ok());
  EXPECT_EQ(Boot(kHost).image(), "esxi@8") << "unassigned, the rules apply again";
}

TEST_F(HostRegistryTest, RulesChangedThroughAnotherFrontendAreNeverServedStale) {
  ASSERT_TRUE(registry_.SetRules(Rules({Rule("all", "esxi@7")}), {}).ok());
  EXPECT_EQ(Boot(kHost).image(), "esxi@7");  // Cached here now.
  HostRegistry other(engine_, Options());
  ASSERT_TRUE(other.SetRules(Rules({Rule("all", "esxi@8")}), {}).ok());
  EXPECT_EQ(Boot(kOther).image(), "esxi@8");
}

TEST_F(HostRegistryTest, BootRacingAnAssignRetriesOnTheNewRecord) {
  Boot(kHost);
  engine_.before_commit = [&] { ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@9").ok()); };
  v1::BootDecision d = Boot(kHost);
  EXPECT_EQ(d.image(), "esxi@9");
  EXPECT_EQ(d.bootstate(), v1::BOOT_STATE_ATTEMPTED);
  EXPECT_EQ(Get(kHost).boot_count(), 2u) << "the lost attempt is not counted";
}

TEST_F(HostRegistryTest, ReportRacingABootIsAppliedAfterIt) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  Boot(kHost);
  // The racing boot fails the trial and, with nothing to fall back to,
  // attempts it again; the report, retried, confirms that new attempt.
  engine_.before_commit = [&] { Boot(kHost, "10.0.0.5"); };
  auto r = registry_.ReportBirth(Mac(kHost), BirthReport{"esxi@8", "1", true, ""}, "10.0.0.5");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->active().image(), "esxi@8");
  EXPECT_EQ(r->active().state(), v1::BOOT_STATE_VALID);
  auto events = registry_.ListEvents(Mac(kHost), 3);
  ASSERT_TRUE(events.ok());
  std::vector<v1::HostEventKind> kinds;
  for (const auto& e : *events) kinds.push_back(e.kind());
  EXPECT_THAT(kinds, ElementsAre(v1::HOST_EVENT_KIND_CONFIRMED, v1::HOST_EVENT_KIND_ATTEMPTED,
                                 v1::HOST_EVENT_KIND_FAILED));
}

TEST_F(HostRegistryTest, RepeatedBootIdChangesNothing) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  v1::BootDecision first = Boot(kHost, "10.0.0.5", "boot-1");
  v1::BootDecision retry = Boot(kHost, "10.0.0.5", "boot-1");
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  v1::HostRecord r = Get(kHost);
  EXPECT_EQ(r.boot_count(), 1u);
  EXPECT_EQ(r.alternate().state(), v1::BOOT_STATE_ATTEMPTED) << "a retry is not a second boot";
  auto long_id = registry_.BeginBoot(Mac(kHost), Facts("10.0.0.5"), std::string(65, 'x'));
  EXPECT_EQ(long_id.status().code(), absl::StatusCode::kInvalidArgument);
}

// Watchers order what they hear of a host by the record's revision: every
// committed change raises it by one, the boot's decision names the one it
// committed, and a lost race does not skip one.
TEST_F(HostRegistryTest, EveryChangeOfARecordRaisesItsRevisionByOne) {
  auto assigned = registry_.Assign(Mac(kHost), "esxi@8");
  ASSERT_TRUE(assigned.ok());
  EXPECT_EQ(assigned->revision(), 1u);
  v1::BootDecision boot = Boot(kHost, "10.0.0.5", "boot-1");
  EXPECT_EQ(boot.record_revision(), 2u);
  EXPECT_EQ(Get(kHost).revision(), 2u);
  EXPECT_EQ(Get(kHost).last_decision().record_revision(), 2u);
  EXPECT_EQ(Boot(kHost, "10.0.0.5", "boot-1").record_revision(), 2u) << "a retry changes nothing";
  auto reported =
      registry_.ReportBirth(Mac(kHost), BirthReport{"esxi@8", "1", true, ""}, "10.0.0.5");
  ASSERT_TRUE(reported.ok());
  EXPECT_EQ(reported->revision(), 3u);
  // A boot that loses its compare-and-set to an Assign commits after it.
  engine_.before_commit = [&] { ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@9").ok()); };
  EXPECT_EQ(Boot(kHost).record_revision(), 5u);
  ASSERT_TRUE(registry_.AddAlias(Mac(kHost), Mac(kNic2)).ok());
  EXPECT_EQ(Get(kNic2).revision(), 6u) << "an alias reads its primary's record";
}

// The boot's timeline comes with its report: one commit, PHASES after the
// report's own event.
TEST_F(HostRegistryTest, ReportCarriesTheBootsTimelineInTheSameCommit) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  Boot(kHost);
  const size_t commits = engine_.commits;
  auto r = registry_.ReportBirth(Mac(kHost), BirthReport{"esxi@8", "1", true, ""}, "10.0.0.5",
                                 "script 0.010s, report 9.000s");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(engine_.commits, commits + 1);
  ASSERT_GE(r->events_size(), 2);
  const v1::HostEvent& last = r->events(r->events_size() - 1);
  EXPECT_EQ(last.kind(), v1::HOST_EVENT_KIND_PHASES);
  EXPECT_EQ(last.reason(), "script 0.010s, report 9.000s");
  EXPECT_EQ(last.image(), "esxi@8");
  EXPECT_EQ(r->events(r->events_size() - 2).kind(), v1::HOST_EVENT_KIND_CONFIRMED);
}

TEST_F(HostRegistryTest, DeadlineComesFromTheOptions) {
  HostRegistryOptions o = Options();
  o.banks.report_deadline_ms = 60'000;
  HostRegistry registry(engine_, o);
  ASSERT_TRUE(registry.Assign(Mac(kHost), "esxi@7").ok());
  ASSERT_TRUE(registry.BeginBoot(Mac(kHost), Facts("10.0.0.5"), "").ok());
  ASSERT_TRUE(registry.ReportBirth(Mac(kHost), BirthReport{"", "", true, ""}, "").ok());
  ASSERT_TRUE(registry.Assign(Mac(kHost), "esxi@8").ok());
  ASSERT_TRUE(registry.BeginBoot(Mac(kHost), Facts("10.0.0.5"), "").ok());
  now_ += 60'000;
  auto d = registry.BeginBoot(Mac(kHost), Facts("10.0.0.5"), "");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->fallback());
  EXPECT_EQ(d->image(), "esxi@7");
  auto events = registry.ListEvents(Mac(kHost), 1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_THAT((*events)[0].reason(), HasSubstr("no birth report within 1 min"));
}

TEST_F(HostRegistryTest, ListEventsNewestFirst) {
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  now_ += 1;
  Boot(kHost);
  now_ += 1;
  ASSERT_TRUE(registry_.ReportBirth(Mac(kHost), BirthReport{"", "b", true, ""}, "").ok());
  auto events = registry_.ListEvents(Mac(kHost), 0);
  ASSERT_TRUE(events.ok());
  std::vector<v1::HostEventKind> kinds;
  for (const auto& e : *events) kinds.push_back(e.kind());
  EXPECT_THAT(kinds, ElementsAre(v1::HOST_EVENT_KIND_CONFIRMED, v1::HOST_EVENT_KIND_ATTEMPTED,
                                 v1::HOST_EVENT_KIND_PUBLISHED));
  EXPECT_EQ(registry_.ListEvents(Mac(kHost), 2)->size(), 2u);
}

TEST_F(HostRegistryTest, CallsOnUnknownHostsAreNotFound) {
  EXPECT_EQ(registry_.ReportBirth(Mac(kHost), {}, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Unassign(Mac(kHost)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Rollback(Mac(kHost)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.GetHost(Mac(kHost)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.ListEvents(Mac(kHost), 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Assign(Mac(kHost), "nope").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HostRegistryTest, SetRulesValidatesAndComparesGenerations) {
  auto bad = registry_.SetRules(Rules({Rule("x", "esxi@8", "10.0.0.1/8")}), {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.GetRules()->generation(), 0u);
  auto first = registry_.SetRules(Rules({Rule("a", "esxi@7")}), 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->generation(), 1u);
  auto stale = registry_.SetRules(Rules({Rule("b", "esxi@8")}), 0);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  auto stored = registry_.GetRules();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->rules_size(), 1);
  EXPECT_EQ(stored->rules(0).name(), "a");
}

TEST_F(HostRegistryTest, ListHostsPagesPastAliases) {
  for (const char* mac : {"02:00:00:00:00:01", "02:00:00:00:00:03", "02:00:00:00:00:05"}) {
    Boot(mac);
  }
  ASSERT_TRUE(registry_.AddAlias(Mac("02:00:00:00:00:01"), Mac("02:00:00:00:00:02")).ok());
  std::vector<std::string> seen;
  std::string token;
  do {
    auto page = registry_.ListHosts(1, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& h : page->hosts) seen.push_back(h.mac());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_THAT(seen, ElementsAre("02:00:00:00:00:01", "02:00:00:00:00:03", "02:00:00:00:00:05"));
}

TEST_F(HostRegistryTest, BrokenEngineErrorsReachTheCaller) {
  engine_.fail_commits_with = absl::ResourceExhaustedError("disk full");
  auto d = registry_.BeginBoot(Mac(kHost), Facts("10.0.0.5"), "");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  engine_.fail_commits_with = absl::OkStatus();
  engine_.data()[keys::HostEntry(kHost)] = "\xff\xff garbage";
  EXPECT_EQ(registry_.GetHost(Mac(kHost)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(HostRegistryKeys, HostEntryKeysRoundTrip) {
  const std::string key = keys::HostEntry(kHost);
  EXPECT_EQ(key, "r/02:00:00:00:00:01");
  EXPECT_TRUE(key.starts_with(keys::kHostEntryPrefix));
  EXPECT_EQ(keys::MacOfHostEntry(key), kHost);
  EXPECT_FALSE(std::string(keys::kRules).starts_with(keys::kHostEntryPrefix));
  EXPECT_FALSE(std::string(keys::kRules).starts_with(keys::kHeadPrefix));
}

// Fails the first Commit that writes more than one key with ABORTED (a
// concurrent writer won), and reports limits as an etcd engine would.
class RacingEngine : public CountingEngine {
 public:
  RacingEngine(StorageEngine& inner, CommitLimits limits)
      : CountingEngine(inner), limits_(limits) {}
  absl::Status Commit(const std::vector<Precondition>& pre, const WriteBatch& batch) override {
    if (lose_next_batch && batch.puts.size() > 1) {
      lose_next_batch = false;
      ++commits;
      return absl::AbortedError("concurrent change");
    }
    largest_batch = std::max(largest_batch, batch.puts.size());
    return CountingEngine::Commit(pre, batch);
  }
  CommitLimits Limits() const override { return limits_; }
  bool lose_next_batch = false;
  size_t largest_batch = 0;

 private:
  CommitLimits limits_;
};

std::vector<HostRegistry::BootItem> Items(std::initializer_list<const char*> macs) {
  std::vector<HostRegistry::BootItem> items;
  int n = 0;
  for (const char* mac : macs)
    items.push_back({Mac(mac), Facts("10.0.0.5"), "boot-" + std::to_string(n++)});
  return items;
}

TEST_F(HostRegistryTest, BatchOfBootsIsOneCommitAndAnswersAsSingleBootsWould) {
  ASSERT_TRUE(registry_.SetRules(Rules({Rule("lab", "esxi@7", "10.0.0.0/8")}), std::nullopt).ok());
  ASSERT_TRUE(registry_.Assign(Mac(kHost), "esxi@8").ok());
  MemoryStorageEngine single_engine;
  HostRegistry single(single_engine, Options());
  ASSERT_TRUE(single.SetRules(Rules({Rule("lab", "esxi@7", "10.0.0.0/8")}), std::nullopt).ok());
  ASSERT_TRUE(single.Assign(Mac(kHost), "esxi@8").ok());

  CountingEngine counting(engine_);
  HostRegistry batched(counting, Options());
  const auto items = Items({kHost, kOther, kNic2});
  auto answers = batched.BeginBoots(items);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(counting.commits, 1) << "three hosts, one durable write";
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_TRUE(answers[i].ok()) << answers[i].status();
    auto alone = single.BeginBoot(items[i].mac, items[i].facts, items[i].boot_id);
    ASSERT_TRUE(alone.ok()) << alone.status();
    EXPECT_EQ(answers[i]->SerializeAsString(), alone->SerializeAsString())
        << items[i].mac.ToString();
    auto stored = batched.GetHost(items[i].mac);
    auto stored_alone = single.GetHost(items[i].mac);
    ASSERT_TRUE(stored.ok() && stored_alone.ok());
    EXPECT_EQ(stored->SerializeAsString(), stored_alone->SerializeAsString());
  }
  EXPECT_EQ(answers[0]->image(), "esxi@8");
  EXPECT_EQ(answers[0]->bootstate(), v1::BOOT_STATE_ATTEMPTED);
  EXPECT_EQ(answers[1]->image(), "esxi@7") << "published by the rule";

  // The same boot_ids again: replays, nothing written.
  auto again = batched.BeginBoots(items);
  EXPECT_EQ(counting.commits, 1);
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_TRUE(again[i].ok());
    EXPECT_EQ(again[i]->SerializeAsString(), answers[i]->SerializeAsString());
  }
}

TEST_F(HostRegistryTest, SecondBootOfAHostInABatchFollowsTheFirst) {
  std::vector<HostRegistry::BootItem> items = Items({kHost, kOther, kHost});
  auto answers = registry_.BeginBoots(items);
  for (auto& a : answers) ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Get(kHost).boot_count(), 2u);
  EXPECT_EQ(Get(kHost).last_boot_id(), "boot-2");
  EXPECT_EQ(answers[2]->record_revision(), answers[0]->record_revision() + 1);
}

TEST_F(HostRegistryTest, ABadBootInABatchFailsAlone) {
  std::vector<HostRegistry::BootItem> items = Items({kHost, kOther});
  items[0].boot_id = std::string(kMaxBootIdBytes + 1, 'x');
  auto answers = registry_.BeginBoots(items);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(answers[0].status().message(), HasSubstr("boot_id"));
  ASSERT_TRUE(answers[1].ok()) << answers[1].status();
  EXPECT_FALSE(registry_.GetHost(Mac(kHost)).ok()) << "the refused boot wrote nothing";
}

TEST_F(HostRegistryTest, ABatchThatLosesARaceIsBootedOneByOne) {
  RacingEngine racing(engine_, {});
  racing.lose_next_batch = true;
  HostRegistry registry(racing, Options());
  auto answers = registry.BeginBoots(Items({kHost, kOther, kNic2}));
  for (auto& a : answers) ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(racing.commits, 1 + 3) << "the lost batch, then each boot alone";
  for (const char* mac : {kHost, kOther, kNic2}) EXPECT_EQ(Get(mac).boot_count(), 1u) << mac;
}

TEST_F(HostRegistryTest, ABatchIsSplitAtTheEnginesLimits) {
  // Each boot checks the rules and its own entry and writes its entry: with
  // at most 3 operations of a kind per commit, two boots share a commit.
  RacingEngine limited(engine_, CommitLimits{0, 3});
  HostRegistry registry(limited, Options());
  auto answers =
      registry.BeginBoots(Items({"02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:01:03",
                                 "02:00:00:00:01:04", "02:00:00:00:01:05"}));
  for (auto& a : answers) ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(limited.commits, 3);
  EXPECT_EQ(limited.largest_batch, 2u);
  EXPECT_EQ(Get("02:00:00:00:01:05").boot_count(), 1u);
}

}  // namespace
}  // namespace midwife::statestore
