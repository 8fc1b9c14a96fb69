#include "statestore/sealed_blob.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "statestore/state_keys.h"

namespace midwife::statestore {
namespace {

using ::testing::HasSubstr;

const std::string kKeyA(32, 'A');
const std::string kKeyB(32, 'B');
const std::string kNonce = "0123456789ab";
const std::string kAad = "aa:bb:cc:dd:ee:ff version 7";

TEST(SealedBlobTest, RoundTripsEmptySmallAndLargePlaintexts) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{3} << 20}) {
    std::string plaintext(n, '\0');
    for (size_t i = 0; i < n; ++i) plaintext[i] = static_cast<char>(i * 131 + 7);
    auto sealed = Seal(kKeyA, kNonce, kAad, plaintext);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->size(), n + kSealOverheadBytes);
    auto opened = Open(kKeyA, kAad, *sealed);
    ASSERT_TRUE(opened.ok()) << n << ": " << opened.status();
    EXPECT_TRUE(*opened == plaintext) << n;
  }
}

TEST(SealedBlobTest, LayoutIsMagicVersionAlgorithmKeyIdNonceCiphertextTag) {
  const std::string plaintext = "secret password hash";
  auto sealed = Seal(kKeyA, kNonce, kAad, plaintext);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->substr(0, 6), "MWSEAL");
  EXPECT_EQ((*sealed)[6], 1);
  EXPECT_EQ((*sealed)[7], 1);
  EXPECT_EQ(sealed->substr(8, 8), SealKeyId(kKeyA));
  EXPECT_EQ(sealed->substr(16, 12), kNonce);
  EXPECT_THAT(*sealed, ::testing::Not(HasSubstr(plaintext)));
  auto header = ReadSealedHeader(*sealed);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->key_id, SealKeyId(kKeyA));
  EXPECT_EQ(header->nonce, kNonce);
}

TEST(SealedBlobTest, KeyIdsDifferPerKeyAndAreStable) {
  EXPECT_EQ(SealKeyId(kKeyA).size(), kSealKeyIdBytes);
  EXPECT_EQ(SealKeyId(kKeyA), SealKeyId(std::string(32, 'A')));
  EXPECT_NE(SealKeyId(kKeyA), SealKeyId(kKeyB));
}

TEST(SealedBlobTest, FreshNoncesDifferAndSoDoCiphertexts) {
  const std::string n1 = RandomSealNonce(), n2 = RandomSealNonce();
  EXPECT_EQ(n1.size(), kSealNonceBytes);
  EXPECT_NE(n1, n2);
  EXPECT_NE(*Seal(kKeyA, n1, kAad, "same"), *Seal(kKeyA, n2, kAad, "same"));
}

TEST(SealedBlobTest, WrongKeyIsRefusedNamingBothKeyIds) {
  auto sealed = Seal(kKeyA, kNonce, kAad, "state");
  ASSERT_TRUE(sealed.ok());
  auto opened = Open(kKeyB, kAad, *sealed);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition) << opened.status();
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr(KeyIdHex(SealKeyId(kKeyA))));
}

TEST(SealedBlobTest, WrongKeyWithForgedKeyIdFailsAuthentication) {
  auto sealed = Seal(kKeyA, kNonce, kAad, "state");
  ASSERT_TRUE(sealed.ok());
  std::string forged = *sealed;
  forged.replace(8, kSealKeyIdBytes, SealKeyId(kKeyB));
  EXPECT_EQ(Open(kKeyB, kAad, forged).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SealedBlobTest, OtherAssociatedDataFailsAuthentication) {
  auto sealed = Seal(kKeyA, kNonce, kAad, "state");
  ASSERT_TRUE(sealed.ok());
  for (std::string aad : {"aa:bb:cc:dd:ee:fe version 7", "aa:bb:cc:dd:ee:ff version 8", ""}) {
    auto opened = Open(kKeyA, aad, *sealed);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << aad;
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr("authentication"));
  }
}

TEST(SealedBlobTest, EveryFlippedByteIsRefused) {
  auto sealed = Seal(kKeyA, kNonce, kAad, "a short state archive");
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string altered = *sealed;
    altered[i] ^= 0x01;
    auto opened = Open(kKeyA, kAad, altered);
    EXPECT_FALSE(opened.ok()) << "byte " << i;
    // A flipped key-id byte names another key; any other flip is data loss.
    if (i < 8 || i >= 16) {
      EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << i;
    }
  }
}

TEST(SealedBlobTest, TruncatedBlobsAreDataLoss) {
  auto sealed = Seal(kKeyA, kNonce, kAad, "a short state archive");
  ASSERT_TRUE(sealed.ok());
  for (size_t n : {size_t{0}, size_t{5}, kSealHeaderBytes, kSealOverheadBytes - 1,
                   kSealOverheadBytes, sealed->size() - 1}) {
    EXPECT_EQ(Open(kKeyA, kAad, sealed->substr(0, n)).status().code(), absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(Open(kKeyA, kAad, *sealed + "x").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SealedBlobTest, BadKeyAndNonceSizesAreInvalidArgument) {
  EXPECT_EQ(Seal(std::string(31, 'k'), kNonce, kAad, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Seal(kKeyA, "short", kAad, "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Open(std::string(33, 'k'), kAad, *Seal(kKeyA, kNonce, kAad, "x")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace midwife::statestore
