#include "core/gunzip_stream.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace midwife {
namespace {

// zlib counts input in uInt; hand it at most this much at a time.
constexpr size_t kMaxFeedBytes = size_t{1} << 30;
// Smallest gzip member: 10-byte header, an empty deflate block, 8-byte trailer.
constexpr size_t kMinGzipBytes = 18;

bool StartsLikeGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

struct DecompressorFree {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// One per thread: allocating it costs more than inflating a small state.tgz.
libdeflate_decompressor* Decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorFree> decompressor(
      libdeflate_alloc_decompressor());
  return decompressor.get();
}

}  // namespace

struct GunzipStream::Inflater {
  z_stream z{};
  bool live = false;  // inflateInit2 succeeded.
  size_t fed = 0;     // Input bytes handed to zlib so far.
  unsigned char out[kGunzipChunkBytes];

  ~Inflater() {
    if (live) inflateEnd(&z);
  }
};

GunzipStream::GunzipStream(std::string_view input, uint64_t* used, uint64_t limit)
    : input_(input), used_(used), limit_(limit) {}

GunzipStream::~GunzipStream() = default;

absl::Status GunzipStream::Fail(absl::Status status) {
  status_ = std::move(status);
  return status_;
}

bool GunzipStream::InflateWhole() {
  if (input_.size() < kMinGzipBytes) return false;
  const auto* tail = reinterpret_cast<const unsigned char*>(input_.data() + input_.size() - 4);
  const uint64_t isize = tail[0] | tail[1] << 8 | tail[2] << 16 | uint64_t{tail[3]} << 24;
  if (isize > kMaxWholeInflateBytes || isize > limit_ - *used_) return false;
  libdeflate_decompressor* d = Decompressor();
  if (d == nullptr) return false;
  whole_ = std::make_unique_for_overwrite<unsigned char[]>(std::max<size_t>(isize, 1));
  size_t in_used = 0;
  size_t out_used = 0;
  const libdeflate_result r = libdeflate_gzip_decompress_ex(
      d, input_.data(), input_.size(), whole_.get(), isize, &in_used, &out_used);
  // Anything else (several members, trailing bytes, a lying ISIZE, damage)
  // goes the streaming way, which explains what is wrong.
  if (r != LIBDEFLATE_SUCCESS || in_used != input_.size() || out_used != isize) {
    whole_.reset();
    return false;
  }
  whole_size_ = isize;
  return true;
}

absl::Status GunzipStream::Start() {
  started_ = true;
  if (!StartsLikeGzip(input_)) return absl::InvalidArgumentError("not gzip-compressed");
  if (InflateWhole()) return absl::OkStatus();
  inflater_ = std::make_unique<Inflater>();
  // 16 + MAX_WBITS: the gzip wrapper only (no zlib or raw deflate), 32 KiB window.
  if (inflateInit2(&inflater_->z, 16 + MAX_WBITS) != Z_OK) {
    return absl::ResourceExhaustedError("cannot set up zlib (out of memory)");
  }
  inflater_->live = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> GunzipStream::Charge(const unsigned char* data, size_t size) {
  *used_ += size;
  if (*used_ > limit_) {
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("more than ", limit_, " bytes after decompression")));
  }
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

absl::StatusOr<std::string_view> GunzipStream::Next() {
  if (!status_.ok()) return status_;
  if (finished_) return std::string_view();
  if (!started_) {
    if (absl::Status s = Start(); !s.ok()) return Fail(std::move(s));
  }
  if (whole_ != nullptr) {
    finished_ = true;
    return Charge(whole_.get(), whole_size_);
  }
  z_stream& z = inflater_->z;
  size_t& fed = inflater_->fed;
  // Room for what the budget still allows plus one byte, so that a stream
  // going over is caught having produced at most one byte too many.
  const uint64_t left = limit_ - std::min(*used_, limit_);
  const size_t room = left < kGunzipChunkBytes ? static_cast<size_t>(left) + 1 : kGunzipChunkBytes;
  z.next_out = inflater_->out;
  z.avail_out = static_cast<uInt>(room);
  for (;;) {
    if (z.avail_in == 0 && fed < input_.size()) {
      const size_t feed = std::min(input_.size() - fed, kMaxFeedBytes);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input_.data() + fed));
      z.avail_in = static_cast<uInt>(feed);
      fed += feed;
    }
    const int r = inflate(&z, Z_NO_FLUSH);
    const size_t produced = room - z.avail_out;
    if (r == Z_STREAM_END) {
      // zlib has checked this member's CRC-32 and length; more members may follow.
      const std::string_view rest = input_.substr(fed - z.avail_in);
      if (rest.empty()) {
        finished_ = true;
      } else if (!StartsLikeGzip(rest)) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat(rest.size(), " bytes of trailing data after the gzip stream")));
      } else if (inflateReset(&z) != Z_OK) {
        return Fail(absl::InternalError("zlib refused to reset"));
      }
      if (produced > 0 || finished_) return Charge(inflater_->out, produced);
      continue;
    }
    if (r == Z_OK) {
      if (produced > 0) return Charge(inflater_->out, produced);
      continue;  // Only header bytes consumed so far.
    }
    if (r == Z_BUF_ERROR && z.avail_in == 0 && fed == input_.size()) {
      // No progress possible with output room left and all input used.
      return Fail(absl::InvalidArgumentError("truncated gzip stream"));
    }
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("corrupt gzip stream (", z.msg != nullptr ? z.msg : "zlib error", ")")));
  }
}

}  // namespace midwife
