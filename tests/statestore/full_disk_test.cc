// A full disk under a real `statestore serve`: its data folder on a small
// tmpfs the test mounts itself, filled with backups until the store refuses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "tests/statestore/statestore_server.h"
#include "tests/support/child_process.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore {
namespace {

using ::midwife::testing::MakeTgz;
using ::midwife::testing::TempDir;
using ::testing::HasSubstr;
using testing::StateStoreServer;

// A tmpfs of `megabytes` mounted on a fresh folder, unmounted on destruction.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, int megabytes) : dir_(dir) {
    ::mkdir(dir.c_str(), 0700);
    const std::string options = absl::StrCat("size=", megabytes, "m,mode=0700");
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// A distinct, incompressible archive of about `bytes`.
std::string RandomArchive(int n, size_t bytes) {
  std::mt19937_64 rng(n);
  std::string payload(bytes, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  return MakeTgz({{absl::StrCat("etc/blob", n), payload}});
}

std::string Mac(int i) { return absl::StrCat("02:00:00:00:fd:", i < 16 ? "0" : "", absl::Hex(i)); }

TEST(FullDiskTest, RefusesWithResourceExhaustedKeepsEverythingAndRecoversOnceSpaceIsFreed) {
  TempDir tmp;
  // The data folder is the mount point itself, so that the server's log
  // (beside it) stays writable.
  const std::string data = tmp.File("data");
  TmpfsMount disk(data, 24);
  if (!disk.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << disk.error()
                 << "): needs root or CAP_SYS_ADMIN; the full-disk test does not run";
  }
  // Room set aside to give back later, as an operator would free space.
  const std::string filler = data + "/filler";
  ASSERT_TRUE(WriteFileAtomically(filler, std::string(4 << 20, 'f')).ok());

  // 1 MiB in reserve: the default (128 MiB) is for real disks, not this one.
  StateStoreServer server(data, {"--min-free-bytes", std::to_string(1 << 20)});
  ASSERT_TRUE(server.Start()) << server.log();
  ClientOptions options = server.AdminClientOptions();
  options.max_attempts = 1;  // See each refusal as it is, no retries.
  auto client = *StateStoreClient::Connect(options);

  constexpr int kMaxBackups = 200;  // 24 MiB / 256 KiB is ~100: bounded well past full.
  std::vector<std::pair<std::string, std::string>> acknowledged;  // mac -> archive
  absl::Status refusal;
  for (int i = 0; i < kMaxBackups; ++i) {
    std::string archive = RandomArchive(i, 256 << 10);
    auto r = client->Backup(Mac(i % 40), archive);
    if (!r.ok()) {
      refusal = r.status();
      break;
    }
    acknowledged.emplace_back(Mac(i % 40), std::move(archive));
  }
  ASSERT_FALSE(refusal.ok()) << kMaxBackups << " backups fit in a 24 MiB tmpfs?";
  EXPECT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted) << refusal << "\n"
                                                                  << server.log();
  EXPECT_THAT(std::string(refusal.message()), HasSubstr("disk is full"));
  ASSERT_GT(acknowledged.size(), 10u);
  RecordProperty("acknowledged_before_full", static_cast<int>(acknowledged.size()));

  // Nothing acknowledged was damaged, and the store still answers reads.
  std::map<std::string, uint64_t> next_version;
  for (const auto& [mac, archive] : acknowledged) {
    auto r = client->Restore(mac, ++next_version[mac]);
    ASSERT_TRUE(r.ok()) << mac << "@" << next_version[mac] << ": " << r.status();
    EXPECT_TRUE(r->archive == archive) << mac << "@" << next_version[mac];
  }

  // Freeing space lets writes through again, without restarting the server.
  // RocksDB resumes on its own once it sees the space; bounded wait for that.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  const std::string after = RandomArchive(kMaxBackups + 1, 64 << 10);
  absl::StatusOr<v1::BackupResponse> resumed = absl::UnknownError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    resumed = client->Backup(Mac(99), after);
    if (resumed.ok() || !absl::IsResourceExhausted(resumed.status())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(resumed.ok()) << resumed.status() << "\n" << server.log();
  auto r = client->Restore(Mac(99));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->archive == after);

  // And it all survives a restart.
  client.reset();  // An open channel holds a stopping server up for seconds.
  EXPECT_EQ(server.Terminate(), 0);
  ASSERT_TRUE(server.Start()) << server.log();
  auto fresh = server.AdminClient();
  next_version.clear();
  for (const auto& [mac, archive] : acknowledged) {
    auto restored = fresh->Restore(mac, ++next_version[mac]);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_TRUE(restored->archive == archive);
  }
  fresh.reset();
  server.Terminate();
}

}  // namespace
}  // namespace midwife::statestore
