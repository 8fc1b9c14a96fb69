// The modes of the secrets `statestore serve` creates and of its data folder,
// and its refusal of token files others may read: a real process, checked
// with stat(2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "core/file_io.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::BinaryPath;
using ::midwife::testing::RunCommand;
using ::midwife::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::StateStoreServer;

// Permission bits of `path`, or -1 if it cannot be stat'ed.
int ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// The test's umask for the duration of a scope (children inherit it).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

std::string Secret(const TempDir& tmp, const std::string& name, mode_t mode) {
  const std::string path = tmp.File(name);
  EXPECT_TRUE(WriteFileAtomically(path, "0123456789abcdef0123456789abcdef\n", 0600).ok());
  ::chmod(path.c_str(), mode);  // Whatever the umask.
  return path;
}

TEST(SecretFilesTest, GeneratedSecretsAre0600AndTheDataFolder0700EvenUnderUmaskZero) {
  TempDir tmp;
  // With no umask, only what the store asks for itself keeps others out.
  ScopedUmask permissive(0);
  const std::string data = tmp.File("data");
  StateStoreServer server(data);
  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_EQ(ModeOf(data), 0700);
  EXPECT_EQ(ModeOf(data + "/admin.token"), 0600);
  EXPECT_EQ(ModeOf(data + "/host-token.secret"), 0600);
  EXPECT_FALSE(server.admin_token().empty());
}

TEST(SecretFilesTest, AnExistingDataFolderOthersCouldEnterIsMade0700) {
  TempDir tmp;
  const std::string data = tmp.File("data");
  ASSERT_EQ(::mkdir(data.c_str(), 0755), 0);
  ::chmod(data.c_str(), 0755);
  StateStoreServer server(data);
  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_EQ(ModeOf(data), 0700);
}

TEST(SecretFilesTest, TokenFilesTheGroupOrOthersMayReadAreRefusedNamingFileAndFix) {
  TempDir tmp;
  struct Case {
    std::vector<std::string> flags;
    std::string file;
  };
  const std::string shared_admin = Secret(tmp, "admin-0644.token", 0644);
  const std::string group_secret = Secret(tmp, "host-0640.secret", 0640);
  const Case cases[] = {
      {{"--admin-token-file", shared_admin}, shared_admin},
      {{"--host-secret-file", group_secret}, group_secret},
  };
  int run = 0;
  for (const Case& c : cases) {
    // A folder (and so a log) of its own per case.
    StateStoreServer server(tmp.File("data-" + std::to_string(++run)), c.flags);
    EXPECT_FALSE(server.Start()) << c.file << " was accepted";
    EXPECT_THAT(server.log(), AllOf(HasSubstr(c.file), HasSubstr("chmod 600"))) << c.file;
  }

  // A generated token that became readable later (a copy, a restore from a
  // backup) is refused the same way on the next start.
  const std::string data = tmp.File("generated");
  {
    StateStoreServer first(data);
    ASSERT_TRUE(first.Start()) << first.log();
  }
  ASSERT_EQ(::chmod((data + "/admin.token").c_str(), 0604), 0);
  StateStoreServer again(data);
  EXPECT_FALSE(again.Start()) << "a world-readable admin.token was accepted";
  EXPECT_THAT(again.log(), AllOf(HasSubstr(data + "/admin.token"), HasSubstr("chmod 600")));

  // Control: the same files, once private, are accepted.
  ::chmod(shared_admin.c_str(), 0600);
  ::chmod(group_secret.c_str(), 0600);
  StateStoreServer fixed(tmp.File("data"),
                         {"--admin-token-file", shared_admin, "--host-secret-file", group_secret});
  ASSERT_TRUE(fixed.Start()) << fixed.log();

  // The CLI refuses a --token-file others may read before it connects.
  ::chmod(shared_admin.c_str(), 0644);
  auto cli = RunCommand({BinaryPath("statestore"), "hosts", "--server", fixed.address(),
                         "--token-file", shared_admin});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_THAT(cli.out, AllOf(HasSubstr(shared_admin), HasSubstr("chmod 600")));
}

}  // namespace
}  // namespace midwife::statestore
