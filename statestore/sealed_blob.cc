#include "statestore/sealed_blob.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/sha256.h"

namespace midwife::statestore {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

std::string Header(std::string_view key_id, std::string_view nonce) {
  std::string h(kSealMagic);
  h.push_back(kSealFormatVersion);
  h.push_back(kSealAlgorithmAes256Gcm);
  h.append(key_id);
  h.append(nonce);
  return h;
}

absl::Status CheckKey(std::string_view key) {
  if (key.size() != kSealKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sealing key is ", kSealKeyBytes, " bytes, not ", key.size()));
  }
  return absl::OkStatus();
}

absl::Status OpenSslFailure(const char* step) {
  return absl::InternalError(absl::StrCat("AES-256-GCM: ", step, " failed in OpenSSL"));
}

}  // namespace

std::string SealKeyId(std::string_view key) {
  Sha256 hash;
  hash.Update(std::string_view("midwife sealed blob key id\0", 27));
  hash.Update(key);
  const Sha256Digest digest = hash.Finish();
  return std::string(reinterpret_cast<const char*>(digest.data()), kSealKeyIdBytes);
}

std::string RandomSealNonce() {
  std::string nonce(kSealNonceBytes, '\0');
  // Without entropy no nonce is safe to use, and nothing sane can continue.
  if (RAND_bytes(Bytes(nonce), static_cast<int>(nonce.size())) != 1) std::abort();
  return nonce;
}

absl::StatusOr<std::string> Seal(std::string_view key, std::string_view nonce, std::string_view aad,
                                 std::string_view plaintext) {
  if (absl::Status st = CheckKey(key); !st.ok()) return st;
  if (nonce.size() != kSealNonceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a nonce is ", kSealNonceBytes, " bytes, not ", nonce.size()));
  }
  if (plaintext.size() > kSealMaxPlaintextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot seal ", plaintext.size(), " bytes; the limit is ", kSealMaxPlaintextBytes));
  }
  std::string out = Header(SealKeyId(key), nonce);
  const std::string header = out;
  out.resize(kSealHeaderBytes + plaintext.size() + kSealTagBytes);
  unsigned char* ciphertext = Bytes(out) + kSealHeaderBytes;

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(nonce)) != 1) {
    return OpenSslFailure("setup");
  }
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(header), static_cast<int>(header.size())) !=
          1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1)) {
    return OpenSslFailure("associated data");
  }
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ciphertext, &len, Bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslFailure("encryption");
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &len) != 1) {
    return OpenSslFailure("finishing encryption");
  }
  written += len;
  if (static_cast<size_t>(written) != plaintext.size()) return OpenSslFailure("length");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagBytes,
                          ciphertext + plaintext.size()) != 1) {
    return OpenSslFailure("tag");
  }
  return out;
}

absl::StatusOr<SealedHeader> ReadSealedHeader(std::string_view sealed) {
  if (sealed.size() < kSealOverheadBytes) {
    return absl::DataLossError(absl::StrCat("sealed blob of ", sealed.size(),
                                            " bytes is shorter than its ", kSealOverheadBytes,
                                            " bytes of header and tag"));
  }
  if (!sealed.starts_with(kSealMagic)) {
    return absl::DataLossError("sealed blob does not start with MWSEAL");
  }
  if (sealed[6] != kSealFormatVersion || sealed[7] != kSealAlgorithmAes256Gcm) {
    return absl::DataLossError(absl::StrCat("sealed blob has format ", static_cast<int>(sealed[6]),
                                            " algorithm ", static_cast<int>(sealed[7]),
                                            "; this build reads 1/1"));
  }
  SealedHeader h;
  h.key_id = std::string(sealed.substr(8, kSealKeyIdBytes));
  h.nonce = std::string(sealed.substr(8 + kSealKeyIdBytes, kSealNonceBytes));
  return h;
}

absl::StatusOr<std::string> Open(std::string_view key, std::string_view aad,
                                 std::string_view sealed) {
  if (absl::Status st = CheckKey(key); !st.ok()) return st;
  absl::StatusOr<SealedHeader> header = ReadSealedHeader(sealed);
  if (!header.ok()) return header.status();
  if (header->key_id != SealKeyId(key)) {
    return absl::FailedPreconditionError(
        absl::StrCat("sealed with key id ", absl::BytesToHexString(header->key_id),
                     ", not with the given key ", absl::BytesToHexString(SealKeyId(key))));
  }
  const std::string_view header_bytes = sealed.substr(0, kSealHeaderBytes);
  const size_t n = sealed.size() - kSealOverheadBytes;
  const std::string_view ciphertext = sealed.substr(kSealHeaderBytes, n);
  std::string tag(sealed.substr(kSealHeaderBytes + n));

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(header->nonce)) != 1) {
    return OpenSslFailure("setup");
  }
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(header_bytes),
                        static_cast<int>(header_bytes.size())) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1)) {
    return OpenSslFailure("associated data");
  }
  std::string plaintext(n, '\0');
  int written = 0;
  if (n > 0) {
    if (EVP_DecryptUpdate(ctx.get(), Bytes(plaintext), &len, Bytes(ciphertext),
                          static_cast<int>(n)) != 1) {
      return OpenSslFailure("decryption");
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagBytes, tag.data()) != 1) {
    return OpenSslFailure("tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(plaintext) + written, &len) != 1) {
    // Wipe what was decrypted: unauthenticated bytes must not leak out.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return absl::DataLossError(
        "sealed blob fails authentication (altered bytes, or sealed for another host or "
        "version)");
  }
  return plaintext;
}

}  // namespace midwife::statestore
