#ifndef MIDWIFE_CORE_GUNZIP_STREAM_H_
#define MIDWIFE_CORE_GUNZIP_STREAM_H_

// Bounded gzip decompression from memory, for archive readers that must stop
// a gzip bomb while it inflates rather than after.
//
// Format: RFC 1952, one or more concatenated members (section 2.2), each
// checked against its CRC-32 and ISIZE trailer (section 2.3.1), with nothing
// after the last. libarchive's own gzip reader is not used: it checks neither
// the CRC nor that the stream is whole.
//
// Two ways through, same results:
//   - a single member whose ISIZE (the length mod 2^32 its trailer claims)
//     fits kMaxWholeInflateBytes and the budget inflates in one libdeflate
//     call into a buffer of exactly that size: several times faster than
//     zlib, and a lying ISIZE only makes the call fail, never overrun;
//   - anything else streams through zlib in kGunzipChunkBytes chunks.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife {

// Most bytes produced by one Next() call when streaming.
inline constexpr size_t kGunzipChunkBytes = 64 * 1024;
// Largest stream inflated in one piece; bounds the memory a stream holds.
inline constexpr size_t kMaxWholeInflateBytes = 8 << 20;

// Not thread-safe: one per stream.
class GunzipStream {
 public:
  // `input` must outlive the stream. Every byte produced is added to *used,
  // which the caller may share between several streams (nested archives);
  // production stops at most one byte after *used passes `limit`.
  // REQUIRES: *used <= limit.
  GunzipStream(std::string_view input, uint64_t* used, uint64_t limit);
  ~GunzipStream();
  GunzipStream(const GunzipStream&) = delete;
  GunzipStream& operator=(const GunzipStream&) = delete;

  // The next decompressed bytes, valid until the next call; empty once the
  // last member has ended and been verified.
  // Errors carry only the reason; once failed, every call returns the error:
  //   RESOURCE_EXHAUSTED  more than `limit` bytes produced
  //   INVALID_ARGUMENT    not gzip, corrupt data or checksum, truncated, or
  //                       bytes after the last member
  absl::StatusOr<std::string_view> Next();

  // The first error Next() returned, or OK.
  const absl::Status& status() const { return status_; }

 private:
  struct Inflater;  // zlib's state and the output buffer, kept out of this header.

  absl::Status Start();
  bool InflateWhole();
  absl::StatusOr<std::string_view> Charge(const unsigned char* data, size_t size);
  absl::Status Fail(absl::Status status);

  std::string_view input_;
  uint64_t* used_;
  uint64_t limit_;
  std::unique_ptr<unsigned char[]> whole_;  // The one-piece result, if any.
  size_t whole_size_ = 0;
  std::unique_ptr<Inflater> inflater_;  // Streaming state, if streaming.
  bool started_ = false;
  bool finished_ = false;
  absl::Status status_;
};

}  // namespace midwife

#endif  // MIDWIFE_CORE_GUNZIP_STREAM_H_
