// Secrets never reach the state store's log: not the admin token, not host
// tokens (issued, used, or presented for the wrong host), not the state key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/escaping.h"
#include "core/file_io.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeEsxiStateTgz;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::StateStoreServer;

TEST(SecretsInLogsTest, NoTokenOrKeyAppearsInTheServerLog) {
  TempDir tmp;
  std::mt19937_64 rng(11);
  std::string key(32, '\0');
  for (auto& c : key) c = static_cast<char>(rng());
  ASSERT_TRUE(WriteFileAtomically(tmp.File("state.key"), key, 0600).ok());
  StateStoreServer server(tmp.File("data"), {"--state-key-file", tmp.File("state.key")});
  ASSERT_TRUE(server.Start()) << server.log();
  auto admin = server.AdminClient();
  const std::string a = "02:00:00:00:10:01", b = "02:00:00:00:10:02";
  auto token_a = admin->IssueHostToken(a);
  auto token_b = admin->IssueHostToken(b);
  ASSERT_TRUE(token_a.ok() && token_b.ok());
  auto host_a = server.ClientWithToken(*token_a);
  ASSERT_TRUE(host_a->Backup(a, MakeEsxiStateTgz({{"etc/shadow", "root:x\n"}})).ok());
  ASSERT_TRUE(host_a->Restore(a).ok());
  // Refused calls are logged too, and must not echo what was presented.
  EXPECT_FALSE(host_a->Restore(b).ok());
  EXPECT_FALSE(server.ClientWithToken(*token_b + "x")->Stat(b).ok());
  EXPECT_FALSE(server.ClientWithToken(*token_b)->Stat(a).ok());
  host_a.reset();
  admin.reset();
  server.Terminate();

  const std::string log = server.log();
  ASSERT_THAT(log, HasSubstr("event=backup"));  // The log is there to look at.
  EXPECT_THAT(log, Not(HasSubstr(server.admin_token())));
  EXPECT_THAT(log, Not(HasSubstr(*token_a)));
  EXPECT_THAT(log, Not(HasSubstr(*token_b)));
  EXPECT_THAT(log, Not(HasSubstr(absl::BytesToHexString(key))));
  EXPECT_THAT(log, Not(HasSubstr(key)));
}

}  // namespace
}  // namespace midwife::statestore
