// --max-backup-bytes on a real `statestore serve`: a backup one byte over the
// limit is refused and stores nothing; one exactly at the limit is stored.
// Both sides of the limit, for a backup that fits one stream message and for
// one that spans several (the service adds up chunks as they arrive).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>

#include "statestore/key_layout.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeTgz;
using ::midwife::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::StateStoreServer;

constexpr char kMac[] = "02:00:00:00:00:01";

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Two valid archives (gzip'd tars of one random file) whose sizes are
// exactly `size` and `size + 1`, with `size` at or above `at_least`:
// random contents barely compress, so growing the file by a byte grows the
// archive by about a byte, and some neighbouring lengths land one apart.
std::pair<std::string, std::string> ArchivesOneByteApart(size_t at_least) {
  std::map<size_t, std::string> by_size;
  const std::string contents = RandomBytes(at_least + 4096, 7);
  for (size_t length = at_least; length < contents.size(); ++length) {
    std::string archive = MakeTgz({{"etc/payload", contents.substr(0, length)}});
    const size_t size = archive.size();  // Above at_least: the tar adds headers.
    by_size.emplace(size, std::move(archive));
    if (by_size.count(size - 1) > 0) return {by_size[size - 1], by_size[size]};
    if (by_size.count(size + 1) > 0) return {by_size[size], by_size[size + 1]};
  }
  ADD_FAILURE() << "no archives one byte apart above " << at_least;
  return {};
}

class BackupSizeLimitTest : public ::testing::TestWithParam<size_t> {};

TEST_P(BackupSizeLimitTest, OneByteOverIsRefusedNamingTheLimitAndStoresNothingExactlyAtIsStored) {
  const auto [at_limit, over_limit] = ArchivesOneByteApart(GetParam());
  ASSERT_EQ(over_limit.size(), at_limit.size() + 1);
  const std::string limit = std::to_string(at_limit.size());
  TempDir tmp;
  StateStoreServer server(tmp.File("data"), {"--max-backup-bytes", limit});
  ASSERT_TRUE(server.Start()) << server.log();
  auto admin = server.AdminClient();
  ASSERT_NE(admin, nullptr);

  auto refused = admin->Backup(kMac, over_limit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              AllOf(HasSubstr("limit of " + limit + " bytes"), HasSubstr("nothing stored")));
  EXPECT_EQ(admin->ListVersions(kMac).status().code(), absl::StatusCode::kNotFound)
      << "a refused first backup made the host known";

  auto stored = admin->Backup(kMac, at_limit);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version().version(), 1u);

  // Over the limit again, now that the host has a version: still nothing new.
  refused = admin->Backup(kMac, over_limit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  auto versions = admin->ListVersions(kMac);
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ(versions->front().version(), 1u);
  auto restored = admin->Restore(kMac);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->archive == at_limit);
}

// A few KiB: the whole backup is one message. Past one chunk: the limit is
// crossed by the second message.
INSTANTIATE_TEST_SUITE_P(OneMessageAndSeveral, BackupSizeLimitTest,
                         ::testing::Values(size_t{4096}, keys::kChunkBytes + 4096));

}  // namespace
}  // namespace midwife::statestore
