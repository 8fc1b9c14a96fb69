#include "bootserver/tftp/tftp_path.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "bootserver/tftp/tftp_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver::tftp {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;

TEST(TftpPath, CleansNamesThatStayUnderTheRoot) {
  const struct {
    std::string requested;
    std::string_view clean;
  } kCases[] = {
      {"undionly.kpxe", "undionly.kpxe"},
      {"/undionly.kpxe", "undionly.kpxe"},
      {"///ipxe.efi", "ipxe.efi"},
      {"\\boot\\x64\\ipxe.efi", "boot/x64/ipxe.efi"},
      {"\\\\server\\share\\f", "server/share/f"},
      {"pxelinux.cfg//01-aa-bb-cc-dd-ee-ff", "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff"},
      {"./a/./b/", "a/b"},
      {"a/...", "a/..."},
      {"..a/b..", "..a/b.."},
      {"Boot/ESXi 8.0/mboot.efi", "Boot/ESXi 8.0/mboot.efi"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.requested);
    absl::StatusOr<std::string> path = NormalizeTftpPath(c.requested);
    ASSERT_TRUE(path.ok()) << path.status();
    EXPECT_EQ(*path, c.clean);
  }
}

TEST(TftpPath, RefusesTraversalAndOddNamesAsAccessViolation) {
  const struct {
    std::string requested;
    std::string_view reason;
  } kCases[] = {
      {"..", "\"..\" component refused"},
      {"../etc/passwd", "\"..\" component refused"},
      {"/../../etc/shadow", "\"..\" component refused"},
      {"a/../../b", "\"..\" component refused"},
      {"a/../b", "\"..\" component refused"},  // even one that stays inside
      {"..\\..\\windows\\win.ini", "\"..\" component refused"},
      {"boot\\..\\..\\x", "\"..\" component refused"},
      {"C:\\Windows\\system.ini", "drive prefix refused"},
      {"c:ipxe.efi", "drive prefix refused"},
      {"ipxe.efi\0../../x"s, "contains NUL"},
      {"ipxe\n.efi", "contains a control character"},
      {"ipxe\x7f", "contains a control character"},
      {"", "empty file name"},
      {"/", "empty file name"},
      {"\\\\", "empty file name"},
      {"./.", "empty file name"},
      {std::string(kMaxTftpPathBytes + 1, 'a'), "longer than 1024 bytes"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.requested);
    absl::StatusOr<std::string> path = NormalizeTftpPath(c.requested);
    ASSERT_FALSE(path.ok()) << *path;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(path.status().message(), HasSubstr(c.reason));
    EXPECT_THAT(path.status().message(), HasSubstr("TFTP path"));
    EXPECT_EQ(ErrorCodeFor(path.status()), ErrorCode::kAccessViolation);
  }
}

TEST(TftpPath, AcceptsTheLongestAllowedName) {
  EXPECT_TRUE(NormalizeTftpPath(std::string(kMaxTftpPathBytes, 'a')).ok());
}

}  // namespace
}  // namespace midwife::bootserver::tftp
