#include "core/tar_entry_rules.h"

#include <archive_entry.h>

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife {
namespace {

using ::testing::HasSubstr;

TEST(NormalizeTarPath, DropsDotSlashAndEmptyComponents) {
  for (const auto& [name, normal] :
       std::vector<std::pair<std::string, std::string>>{{"etc/hosts", "etc/hosts"},
                                                        {"./etc//hosts/", "etc/hosts"},
                                                        {"././a/./b", "a/b"},
                                                        {"etc/", "etc"},
                                                        {".", ""},
                                                        {"./", ""},
                                                        {"..a/b..", "..a/b.."}}) {
    auto path = NormalizeTarPath(name);
    ASSERT_TRUE(path.ok()) << name << ": " << path.status();
    EXPECT_EQ(*path, normal) << name;
  }
}

TEST(NormalizeTarPath, RefusesWhatCouldLeaveTheTree) {
  for (const auto& [name, reason] : std::vector<std::pair<std::string, std::string>>{
           {"", "path is empty"},
           {"/etc/passwd", "path is absolute"},
           {"//etc", "path is absolute"},
           {"..", "has a \"..\" component"},
           {"./../x", "has a \"..\" component"},
           {"etc/../../x", "has a \"..\" component"},
           {"etc/..", "has a \"..\" component"},
           {std::string(kMaxTarPathBytes + 1, 'a'), "longer than 4096 bytes"}}) {
    auto path = NormalizeTarPath(name);
    ASSERT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(path.status().message(), HasSubstr(reason)) << name;
  }
  EXPECT_TRUE(NormalizeTarPath(std::string(kMaxTarPathBytes, 'a')).ok());
}

TEST(CheckSymlinkTarget, ResolvesFromTheLinksFolder) {
  for (const auto& [link, target] :
       std::vector<std::pair<std::string, std::string>>{{"a/l", "../b"},
                                                        {"a/b/l", "../../c"},
                                                        {"l", "a/b/../c"},
                                                        {"l", "."},
                                                        {"a/l", "./b//c/"}}) {
    EXPECT_TRUE(CheckSymlinkTarget(link, target).ok()) << link << " -> " << target;
  }
}

TEST(CheckSymlinkTarget, RefusesAbsoluteAndEscapingTargets) {
  struct Case {
    std::string link, target, reason;
  };
  for (const Case& c :
       std::vector<Case>{{"l", "/etc/shadow", "symlink target \"/etc/shadow\" is absolute"},
                         {"l", "..", "symlink target \"..\" escapes the tree"},
                         {"a/l", "../../x", "symlink target \"../../x\" escapes the tree"},
                         {"a/l", "b/../../../x", "escapes the tree"},
                         {"l", "", "symlink target is empty"},
                         {"", "x", "the root folder cannot be a symlink"}}) {
    absl::Status s = CheckSymlinkTarget(c.link, c.target);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.link << " -> " << c.target;
    EXPECT_THAT(s.message(), HasSubstr(c.reason));
  }
}

TEST(NormalizeHardlinkTarget, AcceptsRelativeNamesOnly) {
  EXPECT_EQ(*NormalizeHardlinkTarget("./etc/a"), "etc/a");
  EXPECT_THAT(NormalizeHardlinkTarget("/etc/a").status().message(),
              HasSubstr("hard link target \"/etc/a\" is absolute"));
  EXPECT_THAT(NormalizeHardlinkTarget("a/../b").status().message(),
              HasSubstr("hard link target \"a/../b\" has a \"..\" component"));
}

TEST(IsInFolder, MatchesWholeComponents) {
  EXPECT_TRUE(IsInFolder("etc", "etc"));
  EXPECT_TRUE(IsInFolder("etc/ssh/x", "etc"));
  EXPECT_FALSE(IsInFolder("etcetera", "etc"));
  EXPECT_FALSE(IsInFolder("", "etc"));
  EXPECT_FALSE(IsInFolder("usr/etc", "etc"));
}

TEST(EntryTypeProblem, AcceptsFilesFoldersAndSymlinksOnly) {
  EXPECT_TRUE(EntryTypeProblem(AE_IFREG).empty());
  EXPECT_TRUE(EntryTypeProblem(AE_IFDIR).empty());
  EXPECT_TRUE(EntryTypeProblem(AE_IFLNK).empty());
  // tar cannot carry sockets, so only this test reaches that line.
  EXPECT_THAT(EntryTypeProblem(AE_IFSOCK), HasSubstr("is a socket"));
  EXPECT_THAT(EntryTypeProblem(AE_IFCHR), HasSubstr("is a character device"));
  EXPECT_THAT(EntryTypeProblem(AE_IFBLK), HasSubstr("is a block device"));
  EXPECT_THAT(EntryTypeProblem(AE_IFIFO), HasSubstr("is a FIFO"));
  EXPECT_THAT(EntryTypeProblem(0), HasSubstr("unknown file type"));
}

TEST(QuoteTarName, EscapesAndCutsLongNames) {
  EXPECT_EQ(QuoteTarName("etc/a\"b\n"), "\"etc/a\\\"b\\n\"");
  EXPECT_EQ(QuoteTarName(std::string(300, 'x')), "\"" + std::string(200, 'x') + "\"...");
}

// Adds (name, optional symlink target) entries in order; returns the first error.
absl::Status AddAll(
    SymlinkTree& tree,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& entries) {
  for (const auto& [name, target] : entries) {
    absl::Status s = tree.Add(name, name, target ? &*target : nullptr);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

TEST(SymlinkTree, AcceptsLinksThatStayInside) {
  SymlinkTree tree;
  ASSERT_TRUE(AddAll(tree, {{"a/b/f", std::nullopt},
                            {"a/b/up", "../c"},
                            {"l", "a/b"},
                            {"x", "l/../c"},
                            {"y", "x/../../a"},
                            {"self", "."},
                            {"dangling", "no/such/thing"}})
                  .ok());
  std::string offending;
  absl::Status s = tree.CheckAllInside(&offending);
  EXPECT_TRUE(s.ok()) << s << " at " << offending;
}

TEST(SymlinkTree, RefusesEntriesWrittenThroughEarlierSymlinks) {
  SymlinkTree tree;
  absl::Status s =
      AddAll(tree, {{"etc/l", "../usr"}, {"etc/l", std::nullopt}, {"etc/l/x", std::nullopt}});
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("path goes through the symlink \"etc/l\""));
}

TEST(SymlinkTree, RefusesLinksLeavingTheTreeThroughOtherLinks) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::optional<std::string>>> entries;
    std::string offending;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"UpThenUp", {{"d/up", ".."}, {"x", "d/up/.."}}, "x", "leads out of the tree"},
      {"LinkToLinkToParent", {{"a/b/l1", "../.."}, {"a/l2", "b/l1/.."}}, "a/l2", "leads out"},
      {"Loop", {{"a", "b"}, {"b", "a"}}, "a", "symlink loop"},
      {"SelfLoop", {{"a", "a/x"}}, "a", "symlink loop"},
      {"ReplacedTarget", {{"l", "."}, {"l", "x/../.."}}, "l", "leads out of the tree"},
  };
  std::vector<std::pair<std::string, std::optional<std::string>>> chain;
  for (int i = 0; i < kMaxSymlinkHops + 2; ++i) {
    chain.push_back({"l" + std::to_string(i), "l" + std::to_string(i + 1)});
  }
  cases.push_back({"LongChain", chain, "l0", "follows more than 40 symlinks"});
  for (const Case& c : cases) {
    SymlinkTree tree;
    ASSERT_TRUE(AddAll(tree, c.entries).ok()) << c.name;
    std::string offending;
    absl::Status s = tree.CheckAllInside(&offending);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(offending, c.offending) << c.name;
    EXPECT_THAT(s.message(), HasSubstr(c.reason)) << c.name;
  }
}

TEST(SymlinkTree, ResolvesEachLinkOnceHoweverOftenItIsFollowed) {
  // A 30-link chain that 10000 other links go through: memoized, the chain is
  // walked once, not 10000 times.
  SymlinkTree tree;
  for (int i = 0; i < 30; ++i) {
    const std::string name = "c" + std::to_string(i);
    const std::string target = i == 29 ? "." : "c" + std::to_string(i + 1);
    ASSERT_TRUE(tree.Add(name, name, &target).ok());
  }
  for (int i = 0; i < 10000; ++i) {
    const std::string name = "x/" + std::to_string(i);
    const std::string target = "../c0/f";
    ASSERT_TRUE(tree.Add(name, name, &target).ok());
  }
  std::string offending;
  EXPECT_TRUE(tree.CheckAllInside(&offending).ok()) << offending;
}

}  // namespace
}  // namespace midwife
