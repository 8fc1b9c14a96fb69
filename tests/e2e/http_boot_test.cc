// End to end over QEMU's user network: QEMU's own iPXE ROM fetches the boot
// file http://10.0.2.2:<port>/boot/<mac>/boot.ipxe (the host's loopback, where
// the real boot server listens) and from there the kernel, the initrds and the
// host's state overlay; the guest runs the real host agent against the real
// boot server and state store.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace midwife::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMacA[] = "52:54:00:e2:e0:0a";
constexpr char kMacB[] = "52:54:00:e2:e0:0b";
constexpr char kValueFile[] = "etc/midwife/value";

class HttpBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string guest = tmp_.File("guest");
    const std::string error = BuildGuest(guest);
    ASSERT_EQ(error, "");
    midwife_ = std::make_unique<Midwife>(tmp_.path());
    ASSERT_TRUE(midwife_->Start());
    ASSERT_TRUE(midwife_->Import(guest, "guest", "1"));
  }

  void TearDown() override {
    std::vector<const QemuGuest*> guests;
    for (const auto& g : guests_) guests.push_back(g.get());
    PrintLogsIfFailed(midwife_.get(), guests);
  }

  QemuGuest& Guest(const std::string& name, const std::string& mac) {
    guests_.push_back(std::make_unique<QemuGuest>(
        name, tmp_.path(), QemuGuest::UserNetwork(mac, midwife_->BootScriptUrl(mac))));
    return *guests_.back();
  }

  // Boots `guest` once and waits until it powers off.
  static ::testing::AssertionResult Boot(QemuGuest& guest) {
    guest.Start();
    if (guest.WaitForPowerOff()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << guest.failure();
  }

  midwife::testing::TempDir tmp_;
  std::unique_ptr<Midwife> midwife_;
  std::vector<std::unique_ptr<QemuGuest>> guests_;
};

// Scenarios 1 and 3, one host booted twice (each boot costs ~20 s of TCG, so
// scenario 3 reuses scenario 1's boot as its first).
// Boot 1: iPXE -> boot.ipxe -> kernel and initrd from the boot server; the
// host reports its birth, which confirms the trial image, and uploads /etc
// with a random value it wrote there.
// Boot 2: the value is back, through the state overlay the boot server
// renders from the backup.
TEST_F(HttpBootTest, FirmwareBootsOverHttpAndStateSurvivesReboot) {
  ASSERT_TRUE(midwife_->Assign(kMacA, "guest@1"));
  QemuGuest& host = Guest("host-a", kMacA);
  ASSERT_TRUE(Boot(host));

  std::string serial = host.Serial();
  // The rendered script ran.
  EXPECT_THAT(serial, HasSubstr("midwife: booting guest@1 on 52:54:00:e2:e0:0a"));
  // iPXE's progress ("... 99%\b\b\b\b ok") varies with timing: the URLs it
  // fetched are what is stable, and the kernel coming up shows they loaded.
  EXPECT_THAT(serial, HasSubstr("/vmlinuz..."));
  EXPECT_THAT(serial, HasSubstr("/base.cpio.gz..."));
  EXPECT_THAT(serial, Not(HasSubstr("state.cpio.gz")));  // no state yet
  EXPECT_THAT(serial, HasSubstr("midwife-guest: up, mac 52:54:00:e2:e0:0a"));
  EXPECT_THAT(serial, HasSubstr("midwife-guest: agent exit 0"));
  EXPECT_THAT(serial, HasSubstr("midwife-guest: power off"));

  nlohmann::json record = midwife_->Host(kMacA);
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record["active"].value("image", ""), "guest@1") << record.dump(1);
  EXPECT_EQ(midwife_->Events(kMacA, "CONFIRMED").size(), 1u) << record.dump(1);

  std::optional<std::string> value = GuestValue(serial, "new");
  ASSERT_TRUE(value.has_value());
  ASSERT_EQ(midwife_->RestoredFile(kMacA, kValueFile), value);

  ASSERT_TRUE(Boot(host));
  serial = host.Serial();
  EXPECT_THAT(serial, HasSubstr("/boot/52-54-00-e2-e0-0a/state.cpio.gz..."));
  EXPECT_EQ(GuestValue(serial, "kept"), value);
  EXPECT_EQ(GuestValue(serial, "new"), std::nullopt);
  EXPECT_THAT(serial, HasSubstr("midwife-guest: agent exit 0"));
  EXPECT_EQ(midwife_->RestoredFile(kMacA, kValueFile), value);
  // The agent packs the same /etc into the same bytes: no new version.
  EXPECT_EQ(midwife_->VersionCount(kMacA), 1);
}

// Scenario 4: an image whose host never reports its birth is tried once; the
// next boot gets the previous image back, which comes up healthy, and the
// host's events say why.
TEST_F(HttpBootTest, ImageWithoutBirthReportRollsBackOnNextBoot) {
  ASSERT_TRUE(midwife_->Assign(kMacA, "guest@1"));
  QemuGuest& host = Guest("host-a", kMacA);
  ASSERT_TRUE(Boot(host));
  ASSERT_EQ(midwife_->Host(kMacA)["active"].value("image", ""), "guest@1");

  // The bad image: same kernel and initrd, but its host never runs the agent.
  ASSERT_TRUE(midwife_->Compose("guest@1", "guest", "2-bad", "midwife.agent=off"));
  ASSERT_TRUE(midwife_->Assign(kMacA, "guest@2-bad"));
  ASSERT_TRUE(Boot(host));
  EXPECT_THAT(host.Serial(), HasSubstr("midwife: booting guest@2-bad"));
  EXPECT_THAT(host.Serial(), HasSubstr("midwife-guest: agent off"));
  std::vector<nlohmann::json> attempted = midwife_->Events(kMacA, "ATTEMPTED");
  ASSERT_FALSE(attempted.empty());
  EXPECT_EQ(attempted.back().value("image", ""), "guest@2-bad");
  EXPECT_EQ(attempted.back().value("to_state", ""), "BOOT_STATE_ATTEMPTED");

  ASSERT_TRUE(Boot(host));
  const std::string serial = host.Serial();
  EXPECT_THAT(serial, HasSubstr("midwife: booting guest@1 on"));
  EXPECT_THAT(serial, HasSubstr("midwife-guest: agent exit 0"));
  EXPECT_TRUE(GuestValue(serial, "kept").has_value()) << "the rollback kept the host's state";

  std::vector<nlohmann::json> failed = midwife_->Events(kMacA, "FAILED");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].value("image", ""), "guest@2-bad");
  EXPECT_EQ(failed[0].value("to_state", ""), "BOOT_STATE_INVALID");
  EXPECT_THAT(failed[0].value("reason", ""), HasSubstr("birth report"));  // says why
  std::cout << "[ e2e ] rollback event: " << failed[0].dump() << "\n";
  nlohmann::json record = midwife_->Host(kMacA);
  EXPECT_EQ(record["active"].value("image", ""), "guest@1") << record.dump(1);
  EXPECT_EQ(record.value("served_image", ""), "guest@1");
}

// Scenario 5: two hosts booting at once each get their own state back.
TEST_F(HttpBootTest, TwoHostsAtOnceEachGetTheirOwnState) {
  ASSERT_TRUE(midwife_->Assign(kMacA, "guest@1"));
  ASSERT_TRUE(midwife_->Assign(kMacB, "guest@1"));
  QemuGuest& a = Guest("host-a", kMacA);
  QemuGuest& b = Guest("host-b", kMacB);

  a.Start();
  b.Start();
  ASSERT_TRUE(a.WaitForPowerOff()) << a.failure();
  ASSERT_TRUE(b.WaitForPowerOff()) << b.failure();
  std::optional<std::string> value_a = GuestValue(a.Serial(), "new");
  std::optional<std::string> value_b = GuestValue(b.Serial(), "new");
  ASSERT_TRUE(value_a.has_value());
  ASSERT_TRUE(value_b.has_value());
  ASSERT_NE(value_a, value_b);
  EXPECT_EQ(midwife_->RestoredFile(kMacA, kValueFile), value_a);
  EXPECT_EQ(midwife_->RestoredFile(kMacB, kValueFile), value_b);

  a.Start();
  b.Start();
  ASSERT_TRUE(a.WaitForPowerOff()) << a.failure();
  ASSERT_TRUE(b.WaitForPowerOff()) << b.failure();
  EXPECT_EQ(GuestValue(a.Serial(), "kept"), value_a);
  EXPECT_EQ(GuestValue(b.Serial(), "kept"), value_b);
}

}  // namespace
}  // namespace midwife::e2e
