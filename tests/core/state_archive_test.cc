#include "core/state_archive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/archive_reader.h"
#include "tests/support/tar_builder.h"

namespace midwife {
namespace {

using ::testing::HasSubstr;
using testing::MakeConfigBundle;
using testing::MakeEsxiStateTgz;
using testing::MakeLocalTgz;
using testing::MakeTarOf;
using testing::MakeTgz;
using testing::MakeTgzOf;
using testing::TarMember;
using Type = TarMember::Type;

TarMember File(std::string name, std::string data = "x") {
  return {std::move(name), std::move(data), Type::kFile, ""};
}
TarMember Link(std::string name, Type type, std::string target) {
  return {std::move(name), "", type, std::move(target)};
}
// A state.tgz whose local.tgz holds `members`.
std::string StateWith(const std::vector<TarMember>& members) {
  return MakeTgz({{"local.tgz", MakeTgzOf(members)}});
}

// A state.tgz of incompressible bytes cut in half.
std::string Truncated() {
  std::string noise(64 * 1024, '\0');
  uint32_t x = 12345;
  for (auto& c : noise) c = static_cast<char>((x = x * 1103515245 + 12345) >> 16);
  std::string whole = MakeEsxiStateTgz({{"etc/noise", noise}});
  return whole.substr(0, whole.size() / 2);
}

struct BadCase {
  const char* name;
  std::string archive;
  std::vector<std::string> message_parts;
};

class RefusesBadArchive : public ::testing::TestWithParam<BadCase> {};

TEST_P(RefusesBadArchive, NamingTheEntryAndTheReason) {
  auto info = ValidateStateArchive(GetParam().archive);
  ASSERT_FALSE(info.ok()) << GetParam().name;
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  for (const auto& part : GetParam().message_parts) {
    EXPECT_THAT(std::string(info.status().message()), HasSubstr(part)) << GetParam().name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadTarballs, RefusesBadArchive,
    ::testing::Values(
        BadCase{"AbsolutePath", StateWith({File("/etc/shadow")}), {"archive/local.tgz", "/etc/shadow", "absolute path"}},
        BadCase{"DotDot", StateWith({File("etc/../../x")}), {"etc/../../x", "\"..\""}},
        BadCase{"DotDotAtTop", MakeTgzOf({File("../escape")}), {"../escape", "\"..\""}},
        BadCase{"CharDevice", StateWith({Link("etc/null", Type::kCharDevice, "")}), {"etc/null", "character device"}},
        BadCase{"BlockDevice", MakeTgzOf({Link("sda", Type::kBlockDevice, "")}), {"sda", "block device"}},
        BadCase{"Fifo", StateWith({Link("etc/pipe", Type::kFifo, "")}), {"etc/pipe", "FIFO"}},
        BadCase{"SymlinkAbsolute", StateWith({Link("etc/passwd", Type::kSymlink, "/etc/passwd")}), {"etc/passwd", "absolute"}},
        BadCase{"SymlinkEscapes", StateWith({Link("etc/x", Type::kSymlink, "../../root")}), {"etc/x", "escapes"}},
        BadCase{"HardlinkEscapes", StateWith({File("etc/a"), Link("etc/b", Type::kHardlink, "../a")}), {"etc/b", "hard link"}},
        BadCase{"OutsideEtc", StateWith({File("var/log/x")}), {"var/log/x", "etc/"}},
        BadCase{"NotGzip", std::string("plain text, not an archive"), {"archive", "gzip"}},
        BadCase{"TarNotGzipped", MakeTarOf({File("etc/a")}), {"archive", "gzip"}},
        BadCase{"Truncated", Truncated(), {"archive"}},
        BadCase{"LocalTgzNotAnArchive", MakeTgz({{"local.tgz", "garbage"}}), {"archive/local.tgz", "gzip"}},
        BadCase{"EncryptedWithoutInfo", MakeTgz({{"local.tgz.ve", "opaque"}}), {"encryption.info"}},
        BadCase{"BundleWithBadState", MakeTgz({{"Manifest.txt", "RELEASELEVEL=x\n"}, {"state.tgz", MakeTgzOf({File("x")})}}), {"archive/state.tgz", "local.tgz"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ValidateStateArchive, AcceptsEsxiStateWithDotSlashNamesAndInnerSymlink) {
  std::string local = MakeTgzOf({Link("./", Type::kDir, ""), Link("./etc", Type::kDir, ""),
                                 File("./etc/hosts", "127.0.0.1 localhost\n"),
                                 Link("./etc/localtime", Type::kSymlink, "zoneinfo/UTC"),
                                 File("./etc/zoneinfo/UTC")});
  auto info = ValidateStateArchive(MakeTgz({{"local.tgz", local}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiState);
}

TEST(ValidateStateArchive, AcceptsEsxi7EncryptedLayoutWithoutOpeningIt) {
  auto info = ValidateStateArchive(
      MakeTgz({{"local.tgz.ve", "ciphertext"}, {"encryption.info", "mode=tpm\n"}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiState);
}

TEST(ValidateStateArchive, DetectsConfigBundleAndLabelsItsBuild) {
  auto info = ValidateStateArchive(
      MakeConfigBundle("VMware ESXi 8.0.2 build-22380479", {{"etc/hosts", "x\n"}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kEsxiConfigBundle);
  EXPECT_EQ(info->labels.at("esxi_build"), "VMware ESXi 8.0.2 build-22380479");
}

TEST(ValidateStateArchive, PlainTarballOfRelativePathsIsAccepted) {
  auto info = ValidateStateArchive(MakeTgz({{"etc/hostname", "node1\n"}, {"root/.profile", ""}}));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, StateKind::kPlainTarball);
}

TEST(ValidateStateArchive, DeclaredKindMustMatchTheMembers) {
  auto info = ValidateStateArchive(MakeTgz({{"etc/hostname", "x"}}), StateKind::kEsxiState);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()),
              HasSubstr("declared esxi-state but the members make it plain-tarball"));
}

TEST(ValidateStateArchive, RefusesMoreEntriesThanTheLimit) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 50; ++i) files["etc/f" + std::to_string(i)] = "x";
  StateArchiveLimits limits;
  limits.max_entries = 20;
  auto info = ValidateStateArchive(MakeEsxiStateTgz(files), std::nullopt, limits);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("more than 20 entries"));
}

// A gzip bomb: 256 MiB of zeros in a few hundred KiB, one layer down, against
// an 8 MiB limit. Written through libarchive in a streaming way so the test
// itself stays small.
std::string GzipBomb() {
  std::string bomb;
  ArchiveWriteHandle a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_filter_option(a.get(), "gzip", "compression-level", "1");
  archive_write_open(
      a.get(), &bomb, nullptr,
      [](archive*, void* out, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "etc/zeros");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  const int64_t size = int64_t{256} << 20;
  archive_entry_set_size(e, size);
  archive_write_header(a.get(), e);
  std::string zeros(1 << 20, '\0');
  for (int64_t done = 0; done < size; done += static_cast<int64_t>(zeros.size())) {
    archive_write_data(a.get(), zeros.data(), zeros.size());
  }
  archive_entry_free(e);
  archive_write_close(a.get());
  return MakeTgz({{"local.tgz", bomb}});
}

TEST(ValidateStateArchive, StopsAGzipBombWhileStreaming) {
  const std::string bomb = GzipBomb();
  ASSERT_LT(bomb.size(), 4u << 20);
  StateArchiveLimits limits;
  limits.max_uncompressed_bytes = 8 << 20;
  auto info = ValidateStateArchive(bomb, std::nullopt, limits);
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("archive/local.tgz"));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("more than 8388608 bytes uncompressed"));
}

TEST(ValidateStateArchive, KindNamesRoundTrip) {
  for (StateKind k : {StateKind::kEsxiState, StateKind::kEsxiConfigBundle, StateKind::kPlainTarball}) {
    EXPECT_EQ(*ParseStateKind(StateKindName(k)), k);
  }
  EXPECT_EQ(ParseStateKind("tarball").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace midwife
