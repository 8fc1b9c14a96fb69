#include "statestore/key_layout.h"

#include "absl/strings/str_format.h"

namespace midwife::statestore::keys {

std::string Head(std::string_view mac) { return absl::StrFormat("h/%s", mac); }

std::string Version(std::string_view mac, uint64_t version) {
  return absl::StrFormat("v/%s/%020u", mac, version);
}

std::string Chunk(std::string_view mac, uint64_t version, uint32_t chunk) {
  return absl::StrFormat("d/%s/%020u/%06u", mac, version, chunk);
}

std::string VersionOfChunk(std::string_view chunk_key) {
  const size_t last = chunk_key.rfind('/');
  if (!chunk_key.starts_with(kChunkPrefix) || last == std::string_view::npos ||
      last < kChunkPrefix.size()) {
    return "";
  }
  return std::string(kVersionPrefix) +
         std::string(chunk_key.substr(kChunkPrefix.size(), last - kChunkPrefix.size()));
}

std::string_view MacOfHead(std::string_view head_key) {
  return head_key.substr(kHeadPrefix.size());
}

std::string HostEntry(std::string_view mac) { return absl::StrFormat("r/%s", mac); }

std::string_view MacOfHostEntry(std::string_view entry_key) {
  return entry_key.substr(kHostEntryPrefix.size());
}

}  // namespace midwife::statestore::keys
