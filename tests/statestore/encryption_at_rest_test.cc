// Encryption at rest through a real `statestore serve` process: what reaches
// the disk, key rotation with `statestore rekey`, and key file checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "core/file_io.h"
#include "tests/statestore/at_rest_files.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using testing::AnyFileHolds;
using testing::ArchiveShowing;
using ::testing::HasSubstr;
using testing::StateStoreServer;

constexpr char kMac[] = "02:00:00:00:5e:01";

std::string WriteKey(const TempDir& tmp, const std::string& name, uint64_t seed,
                     unsigned mode = 0600, size_t bytes = 32) {
  std::mt19937_64 rng(seed);
  std::string key(bytes, '\0');
  for (auto& c : key) c = static_cast<char>(rng());
  const std::string path = tmp.File(name);
  EXPECT_TRUE(WriteFileAtomically(path, key, mode).ok());
  ::chmod(path.c_str(), mode);  // Whatever the umask.
  return path;
}

std::vector<std::string> KeyFlags(const std::string& current, std::vector<std::string> old = {}) {
  std::vector<std::string> flags = {"--state-key-file", current};
  for (auto& f : old) flags.insert(flags.end(), {"--old-state-key-file", f});
  return flags;
}

void ExpectRestores(const StateStoreServer& server, uint64_t version, const std::string& archive) {
  auto restored = server.AdminClient()->Restore(kMac, version);
  ASSERT_TRUE(restored.ok()) << "version " << version << ": " << restored.status();
  EXPECT_TRUE(restored->archive == archive) << "version " << version << " differs";
}

TEST(EncryptionAtRestTest, RestoreIsByteExactAndNoFileOnDiskHoldsThePlaintext) {
  TempDir tmp;
  const std::string marker = "root:$6$PLAINTEXT-MARKER-7d2e91$shadowhash";
  const std::string archive = ArchiveShowing(marker);
  {
    // The control: without a key the scan finds the marker, so it can fail.
    StateStoreServer plain(tmp.File("plain"));
    ASSERT_TRUE(plain.Start()) << plain.log();
    ASSERT_TRUE(plain.AdminClient()->Backup(kMac, archive).ok());
    EXPECT_TRUE(AnyFileHolds(tmp.File("plain"), marker));
    plain.Terminate();
    // An operator reading the log learns that nothing is sealed.
    EXPECT_THAT(plain.log(), HasSubstr("event=statestore.warning"));
    EXPECT_THAT(plain.log(), HasSubstr("encryption_at_rest=off"));
  }
  const std::string data = tmp.File("data");
  StateStoreServer server(data, KeyFlags(WriteKey(tmp, "state.key", 1)));
  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("encryption_at_rest=aes-256-gcm"));
  auto stored = server.AdminClient()->Backup(kMac, archive);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ExpectRestores(server, 1, archive);
  EXPECT_FALSE(AnyFileHolds(data, marker)) << "while serving";
  EXPECT_EQ(server.Terminate(), 0);
  EXPECT_FALSE(AnyFileHolds(data, marker)) << "after a clean stop";
  ASSERT_TRUE(server.Start()) << server.log();
  ExpectRestores(server, 1, archive);
}

TEST(EncryptionAtRestTest, RotationRestoresUnderOldAndNewKeysAndRekeyRetiresTheOldKey) {
  TempDir tmp;
  const std::string data = tmp.File("data");
  const std::string key_a = WriteKey(tmp, "a.key", 1), key_b = WriteKey(tmp, "b.key", 2);
  const std::string first = ArchiveShowing("first"), second = ArchiveShowing("second");
  {
    StateStoreServer under_a(data, KeyFlags(key_a));
    ASSERT_TRUE(under_a.Start()) << under_a.log();
    ASSERT_TRUE(under_a.AdminClient()->Backup(kMac, first).ok());
    under_a.Terminate();
  }
  {
    StateStoreServer b_and_a(data, KeyFlags(key_b, {key_a}));
    ASSERT_TRUE(b_and_a.Start()) << b_and_a.log();
    ExpectRestores(b_and_a, 1, first);
    ASSERT_TRUE(b_and_a.AdminClient()->Backup(kMac, second).ok());
    ExpectRestores(b_and_a, 2, second);
    // Rekey needs the database to itself.
    auto busy = RunCommand({BinaryPath("statestore"), "rekey", "--data", data, "--state-key-file",
                            key_b, "--old-state-key-file", key_a});
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_THAT(busy.out, HasSubstr("stop `statestore serve`"));
    b_and_a.Terminate();
  }
  {
    // Before rekey, B alone cannot read what A sealed, and says so.
    StateStoreServer only_b(data, KeyFlags(key_b));
    ASSERT_TRUE(only_b.Start()) << only_b.log();
    auto refused = only_b.AdminClient()->Restore(kMac, 1);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
    ExpectRestores(only_b, 2, second);
    only_b.Terminate();
  }
  auto rekey = RunCommand({BinaryPath("statestore"), "rekey", "--data", data, "--state-key-file",
                           key_b, "--old-state-key-file", key_a});
  ASSERT_EQ(rekey.exit_code, 0) << rekey.out;
  EXPECT_THAT(rekey.out, HasSubstr("re-encrypted 1 of 2 versions of 1 hosts"));
  StateStoreServer only_b(data, KeyFlags(key_b));
  ASSERT_TRUE(only_b.Start()) << only_b.log();
  ExpectRestores(only_b, 1, first);
  ExpectRestores(only_b, 2, second);
}

TEST(EncryptionAtRestTest, PlaintextStoreGivenAKeyKeepsOldVersionsAndRekeyLeavesNoPlaintext) {
  TempDir tmp;
  const std::string data = tmp.File("data");
  const std::string old_marker = "OLD-PLAINTEXT-MARKER-19c4", new_marker = "NEW-MARKER-a80f";
  const std::string old_archive = ArchiveShowing(old_marker),
                    new_archive = ArchiveShowing(new_marker);
  {
    StateStoreServer plain(data);
    ASSERT_TRUE(plain.Start()) << plain.log();
    ASSERT_TRUE(plain.AdminClient()->Backup(kMac, old_archive).ok());
    plain.Terminate();
  }
  const std::string key = WriteKey(tmp, "state.key", 3);
  {
    StateStoreServer keyed(data, KeyFlags(key));
    ASSERT_TRUE(keyed.Start()) << keyed.log();
    ExpectRestores(keyed, 1, old_archive);
    ASSERT_TRUE(keyed.AdminClient()->Backup(kMac, new_archive).ok());
    ExpectRestores(keyed, 2, new_archive);
    keyed.Terminate();
  }
  EXPECT_TRUE(AnyFileHolds(data, old_marker)) << "the old version was written in the clear";
  EXPECT_FALSE(AnyFileHolds(data, new_marker));
  auto rekey =
      RunCommand({BinaryPath("statestore"), "rekey", "--data", data, "--state-key-file", key});
  ASSERT_EQ(rekey.exit_code, 0) << rekey.out;
  EXPECT_THAT(rekey.out, HasSubstr("re-encrypted 1 of 2 versions"));
  EXPECT_FALSE(AnyFileHolds(data, old_marker)) << "rekey left the plaintext in a live file";
  StateStoreServer keyed(data, KeyFlags(key));
  ASSERT_TRUE(keyed.Start()) << keyed.log();
  ExpectRestores(keyed, 1, old_archive);
  ExpectRestores(keyed, 2, new_archive);
}

TEST(EncryptionAtRestTest, ServeRefusesKeyFilesOthersCanReadOrOfTheWrongSize) {
  TempDir tmp;
  struct Case {
    std::string key_file;
    std::string reason;
  };
  const Case cases[] = {
      {WriteKey(tmp, "shared.key", 1, 0640), "chmod 600"},
      {WriteKey(tmp, "short.key", 2, 0600, 31), "exactly 32"},
      {WriteKey(tmp, "hex.key", 3, 0600, 65), "exactly 32"},
      {tmp.File("missing.key"), "missing.key"},
  };
  for (const Case& c : cases) {
    auto run = RunCommand({BinaryPath("statestore"), "serve", "--data", tmp.File("data"),
                           "--listen", "127.0.0.1:0", "--state-key-file", c.key_file});
    EXPECT_NE(run.exit_code, 0) << c.key_file;
    EXPECT_THAT(run.out, HasSubstr(c.reason)) << c.key_file;
  }
  auto old_only =
      RunCommand({BinaryPath("statestore"), "serve", "--data", tmp.File("data"), "--listen",
                  "127.0.0.1:0", "--old-state-key-file", WriteKey(tmp, "old.key", 4)});
  EXPECT_NE(old_only.exit_code, 0);
  EXPECT_THAT(old_only.out, HasSubstr("needs --state-key-file"));
}

}  // namespace
}  // namespace midwife::statestore
