#ifndef MIDWIFE_STATESTORE_KEY_LAYOUT_H_
#define MIDWIFE_STATESTORE_KEY_LAYOUT_H_

// Where the state store keeps each record inside a StorageEngine:
//   h/<mac>                         HostHead (records proto)
//   v/<mac>/<version:020>           StoredVersion
//   d/<mac>/<version:020>/<chunk:06> archive bytes, kChunkBytes per chunk
//   r/<mac>                         HostEntry (records proto): the host
//                                   registry's record, or an alias pointer
//   rules                           RuleSet (hostregistry proto), one key
// <mac> is canonical ("aa:bb:cc:dd:ee:ff"); zero-padded numbers keep byte
// order equal to numeric order for scans.

#include <cstdint>
#include <string>
#include <string_view>

namespace midwife::statestore::keys {

// etcd caps a request at ~1.5 MiB; 1 MiB chunks fit any engine.
inline constexpr size_t kChunkBytes = 1 << 20;

inline constexpr std::string_view kHeadPrefix = "h/";
inline constexpr std::string_view kVersionPrefix = "v/";
inline constexpr std::string_view kChunkPrefix = "d/";
inline constexpr std::string_view kHostEntryPrefix = "r/";
// One key, so a boot that consulted the rules can make its commit depend on
// exactly the rules it read.
inline constexpr std::string_view kRules = "rules";

std::string Head(std::string_view mac);
std::string Version(std::string_view mac, uint64_t version);
std::string Chunk(std::string_view mac, uint64_t version, uint32_t chunk);
// The Version key of the version a Chunk key belongs to ("" if `chunk_key`
// is not one).
std::string VersionOfChunk(std::string_view chunk_key);
// The MAC part of a Head key.
std::string_view MacOfHead(std::string_view head_key);
std::string HostEntry(std::string_view mac);
// The MAC part of a HostEntry key.
std::string_view MacOfHostEntry(std::string_view entry_key);

}  // namespace midwife::statestore::keys

#endif  // MIDWIFE_STATESTORE_KEY_LAYOUT_H_
