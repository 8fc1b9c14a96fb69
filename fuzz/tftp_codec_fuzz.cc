// libFuzzer target: the TFTP codec (bootserver/tftp/tftp_codec.h), the option
// negotiation and the path normalizer that a request's fields flow into.
// Checks, beyond "no crash": a packet Parse accepts serializes, and the
// bytes Serialize writes parse back to the same packet (an ERROR message cut
// to kMaxErrorMessageBytes).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "bootserver/tftp/tftp_codec.h"
#include "bootserver/tftp/tftp_options.h"
#include "bootserver/tftp/tftp_path.h"

namespace tftp = midwife::bootserver::tftp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto packet = tftp::Parse(std::span<const uint8_t>(data, size));
  if (!packet.ok()) return 0;
  (void)tftp::ErrorCodeFor(packet.status());
  if (const auto* request = std::get_if<tftp::Request>(&*packet)) {
    (void)tftp::NormalizeTftpPath(request->filename);
    // Any file size, including the edges of tsize.
    uint64_t file_size = size > 0 ? uint64_t{data[0]} << (data[size - 1] % 64) : 0;
    auto negotiated = tftp::NegotiateReadOptions(request->options, file_size, {});
    if (negotiated.block_size < tftp::kMinBlockSize ||
        negotiated.block_size > tftp::kMaxBlockSize || negotiated.window_size < 1) {
      std::abort();
    }
    (void)tftp::ModeName(request->mode);
  }
  auto bytes = tftp::Serialize(*packet);
  if (!bytes.ok()) {
    // An ERROR message past kMaxErrorMessageBytes is cut, never refused; all
    // else Parse accepted must serialize.
    std::abort();
  }
  // Serialize cuts an ERROR message at kMaxErrorMessageBytes (by contract);
  // Parse reads a peer's message whole.
  tftp::Packet expected = *packet;
  if (auto* error = std::get_if<tftp::Error>(&expected);
      error != nullptr && error->message.size() > tftp::kMaxErrorMessageBytes) {
    error->message.resize(tftp::kMaxErrorMessageBytes);
  }
  auto again = tftp::Parse(*bytes);
  if (!again.ok() || !(*again == expected)) std::abort();
  return 0;
}
