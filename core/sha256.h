#ifndef MIDWIFE_CORE_SHA256_H_
#define MIDWIFE_CORE_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace midwife {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental SHA-256 (OpenSSL EVP underneath). Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  Sha256Digest Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Sha256Digest Sha256Of(std::string_view data);
// Lower-case hex of a digest, 64 characters.
std::string ToHex(const Sha256Digest& digest);
std::string Sha256Hex(std::string_view data);

}  // namespace midwife

#endif  // MIDWIFE_CORE_SHA256_H_
