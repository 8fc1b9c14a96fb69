#include "bootserver/boot/open_blob_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/child_process.h"

namespace midwife::bootserver {
namespace {

using imagebuilder::BlobDigest;
using ::midwife::testing::TempDir;

class OpenBlobCacheTest : public ::testing::Test {
 protected:
  // Writes `bytes` to `name` and returns it as the cache would keep it.
  OpenBlobCache::Blob Opened(const std::string& name, const std::string& bytes) {
    const std::string path = tmp_.File(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return Open(path);
  }
  static OpenBlobCache::Blob Open(const std::string& path) {
    OpenBlobCache::Blob blob;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << path;
    blob.file = std::make_shared<OpenFile>(fd);
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    blob.size = static_cast<uint64_t>(st.st_size);
    blob.path = path;
    blob.identity = FileIdentity::Of(st);
    return blob;
  }

  TempDir tmp_;
};

TEST_F(OpenBlobCacheTest, FindsWhatWasInsertedWithItsOpenFile) {
  OpenBlobCache cache;
  const BlobDigest a = BlobDigest::Of("a");
  EXPECT_EQ(cache.Find(a), nullptr);
  OpenBlobCache::Blob blob = Opened("a", "aaaa");
  const int fd = blob.file->fd();
  cache.Insert(a, std::move(blob));
  auto found = cache.Find(a);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->file->fd(), fd);
  EXPECT_EQ(found->size, 4u);
  EXPECT_EQ(cache.Find(BlobDigest::Of("b")), nullptr);
}

// The point of the stat per find: a file written to in place, or another
// file renamed over the path, is not the file that was verified.
TEST_F(OpenBlobCacheTest, AFileChangedOrReplacedOnDiskIsDropped) {
  OpenBlobCache cache;
  const BlobDigest a = BlobDigest::Of("a");
  cache.Insert(a, Opened("a", "aaaa"));
  // In place, same size: only mtime and ctime tell.
  {
    std::FILE* f = std::fopen(tmp_.File("a").c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputc('b', f);
    std::fclose(f);
  }
  // The identity has nanosecond times; make sure the write is visible in them.
  struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, tmp_.File("a").c_str(), times, 0), 0);
  EXPECT_EQ(cache.Find(a), nullptr);
  EXPECT_EQ(cache.size(), 0u);

  cache.Insert(a, Open(tmp_.File("a")));
  ASSERT_NE(cache.Find(a), nullptr);
  std::ofstream(tmp_.File("other"), std::ios::binary) << "cccc";
  ASSERT_EQ(std::rename(tmp_.File("other").c_str(), tmp_.File("a").c_str()), 0);
  EXPECT_EQ(cache.Find(a), nullptr);

  cache.Insert(a, Open(tmp_.File("a")));
  ASSERT_EQ(::unlink(tmp_.File("a").c_str()), 0);
  EXPECT_EQ(cache.Find(a), nullptr);
}

TEST_F(OpenBlobCacheTest, PastCapacityTheLeastRecentlyFoundGoes) {
  OpenBlobCache cache(/*capacity=*/2);
  const BlobDigest a = BlobDigest::Of("a"), b = BlobDigest::Of("b"), c = BlobDigest::Of("c");
  cache.Insert(a, Opened("a", "a"));
  cache.Insert(b, Opened("b", "b"));
  ASSERT_NE(cache.Find(a), nullptr);  // b is now the least recent
  cache.Insert(c, Opened("c", "c"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.Find(a), nullptr);
  EXPECT_EQ(cache.Find(b), nullptr);
  EXPECT_NE(cache.Find(c), nullptr);
}

TEST_F(OpenBlobCacheTest, AResponseStillHoldingAnEvictedFileKeepsItOpen) {
  OpenBlobCache cache(/*capacity=*/1);
  const BlobDigest a = BlobDigest::Of("a");
  cache.Insert(a, Opened("a", "aaaa"));
  auto held = cache.Find(a);
  ASSERT_NE(held, nullptr);
  cache.Insert(BlobDigest::Of("b"), Opened("b", "b"));
  EXPECT_EQ(cache.Find(a), nullptr);
  char byte = 0;
  EXPECT_EQ(::pread(held->file->fd(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'a');
}

}  // namespace
}  // namespace midwife::bootserver
