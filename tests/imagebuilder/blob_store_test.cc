#include "imagebuilder/blob_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/imagebuilder/test_media.h"
#include "tests/support/child_process.h"

namespace midwife::imagebuilder {
namespace {

using ::midwife::imagebuilder::testing::PseudoRandomBytes;
using ::midwife::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Yields `good` bytes, then fails: a source read error in mid-copy.
class FailingSource : public ByteSource {
 public:
  explicit FailingSource(std::string good) : good_(std::move(good)), inner_(good_) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    absl::StatusOr<size_t> n = inner_.Read(buffer, std::min<size_t>(size, 1000));
    if (n.ok() && *n == 0) return absl::DataLossError("disc unreadable at sector 42");
    return n;
  }

 private:
  std::string good_;
  StringByteSource inner_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(dir_.File("blobs")); }
  TempDir dir_;
  BlobStore store_{dir_.File("blobs")};
};

TEST_F(BlobStoreTest, StoresBytesUnderTheirDigestReadOnly) {
  const std::string bytes = PseudoRandomBytes("x", 3 * kCopyBufferBytes + 17);  // several buffers
  StringByteSource source(bytes);
  absl::StatusOr<BlobStore::PutResult> put = store_.Put(source, "x");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(put->created);
  EXPECT_EQ(put->blob, (StoredBlob{BlobDigest::Of(bytes), bytes.size()}));
  EXPECT_EQ(store_.PathOf(put->blob.digest), dir_.File("blobs/" + BlobDigest::Of(bytes).hex()));
  EXPECT_EQ(Slurp(store_.PathOf(put->blob.digest)), bytes);
  struct stat st {};
  ASSERT_EQ(::stat(store_.PathOf(put->blob.digest).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_THAT(*store_.ListTemporaries(), IsEmpty());
}

TEST_F(BlobStoreTest, StoresTheSameBytesOnce) {
  ASSERT_TRUE(store_.PutBytes("same", "a").ok());
  absl::StatusOr<BlobStore::PutResult> again = store_.PutBytes("same", "b");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_THAT(*store_.List(), ElementsAre(StoredBlob{BlobDigest::Of("same"), 4}));
  EXPECT_THAT(*store_.ListTemporaries(), IsEmpty());
}

TEST_F(BlobStoreTest, AFailedCopyLeavesNoBlobAndNoTemporary) {
  FailingSource source(PseudoRandomBytes("y", 5000));
  absl::StatusOr<BlobStore::PutResult> put = store_.Put(source, "disc: S.V00");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(*store_.List(), IsEmpty());
  EXPECT_THAT(*store_.ListTemporaries(), IsEmpty());
  EXPECT_FALSE(store_.Contains(BlobDigest::Of(PseudoRandomBytes("y", 5000))));
}

TEST_F(BlobStoreTest, RefusesAnInputOverTheSizeLimitAndKeepsNothing) {
  const std::string bytes(5000, 'z');  // outlives the source, which only views it
  StringByteSource source(bytes);
  absl::StatusOr<BlobStore::PutResult> put = store_.Put(source, "big.v00", /*max_bytes=*/4096);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(put.status().message()), HasSubstr("big.v00 is larger than 4096 bytes"));
  EXPECT_THAT(*store_.List(), IsEmpty());
  EXPECT_THAT(*store_.ListTemporaries(), IsEmpty());
}

TEST_F(BlobStoreTest, ALeftoverTemporaryIsNoBlob) {
  // What a crash between create and rename leaves behind.
  std::ofstream(dir_.File("blobs/.tmp-123-abcd")) << "half a module";
  EXPECT_THAT(*store_.List(), IsEmpty());
  EXPECT_THAT(*store_.ListTemporaries(), ElementsAre(".tmp-123-abcd"));
  EXPECT_TRUE(store_.RemoveTemporary(".tmp-123-abcd").ok());
  EXPECT_THAT(*store_.ListTemporaries(), IsEmpty());
  EXPECT_FALSE(store_.RemoveTemporary("../oci-layout").ok());
}

TEST_F(BlobStoreTest, VerifyAndReadVerifiedDetectAFlippedByte) {
  const std::string bytes = PseudoRandomBytes("v", 10000);
  const BlobDigest digest = store_.PutBytes(bytes, "v")->blob.digest;
  EXPECT_TRUE(store_.Verify(digest).ok());
  EXPECT_EQ(*store_.ReadVerified(digest, 1 << 20), bytes);

  const std::string path = store_.PathOf(digest);
  ::chmod(path.c_str(), 0644);
  std::string flipped = bytes;
  flipped[4321] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped;
  absl::Status status = store_.Verify(digest);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr(BlobDigest::Of(flipped).ToString()));
  EXPECT_EQ(store_.ReadVerified(digest, 1 << 20).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_.Verify(BlobDigest::Of("absent")).code(), absl::StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, NewBlobsRemovesWhatAnUncommittedOperationCreated) {
  ASSERT_TRUE(store_.PutBytes("old", "old").ok());
  {
    NewBlobs created(store_);
    created.Track(*store_.PutBytes("old", "old"));
    created.Track(*store_.PutBytes("new", "new"));
    EXPECT_EQ(created.count(), 1u);
    EXPECT_EQ(created.bytes(), 3u);
  }
  EXPECT_THAT(*store_.List(), ElementsAre(StoredBlob{BlobDigest::Of("old"), 3}));
  {
    NewBlobs created(store_);
    created.Track(*store_.PutBytes("kept", "kept"));
    created.Commit();
  }
  EXPECT_TRUE(store_.Contains(BlobDigest::Of("kept")));
}

}  // namespace
}  // namespace midwife::imagebuilder
