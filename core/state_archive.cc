#include "core/state_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <libdeflate.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/archive_reader.h"
#include "core/status_macros.h"
#include "core/tar_entry_rules.h"

namespace midwife {
namespace {

constexpr size_t kReadBlock = 64 * 1024;
// Layers up to this size inflate in one call (libdeflate); larger ones stream,
// so memory per validation stays bounded by this, not by the 64 MiB budget.
constexpr uint64_t kMaxWholeInflateBytes = 8ull << 20;

struct DecompressorFree {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// Limits shared by every layer of one archive: the budget is for the whole
// nest, so a bomb cannot hide one level down.
struct Budget {
  const StateArchiveLimits& limits;
  size_t entries = 0;
  uint64_t bytes = 0;  // Decompressed tar stream bytes of finished layers.
};

// The members of one tar layer that the kind rules look at.
struct Layer {
  std::vector<std::string> names;              // Every member, stripped.
  std::map<std::string, std::string> members;  // Kept bytes, for names asked for.
};

absl::Status Refuse(const std::string& layer, std::string_view entry, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(layer, ": entry \"", std::string(entry), "\": ", std::string(why)));
}

absl::Status RefuseLayer(const std::string& layer, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(layer, ": ", std::string(why)));
}

std::string_view FileTypeProblem(mode_t type) {
  switch (type) {
    case AE_IFCHR: return "character device nodes are not allowed";
    case AE_IFBLK: return "block device nodes are not allowed";
    case AE_IFIFO: return "FIFOs are not allowed";
    case AE_IFSOCK: return "sockets are not allowed";
    default: return "";
  }
}

// Inflates a single-member gzip stream in one call with libdeflate (several
// times faster than zlib's streaming inflate, which dominated the cost of a
// backup). The trailer's ISIZE bounds the output before anything is
// allocated. Returns nullopt when the fast path does not apply (ISIZE lies,
// several members): the caller then streams through libarchive instead.
absl::StatusOr<std::optional<std::string>> InflateWhole(std::string_view gz,
                                                       const std::string& layer,
                                                       const Budget& budget) {
  if (gz.size() < 18 || static_cast<uint8_t>(gz[0]) != 0x1f || static_cast<uint8_t>(gz[1]) != 0x8b) {
    return RefuseLayer(layer, "not gzip-compressed");
  }
  const auto* tail = reinterpret_cast<const uint8_t*>(gz.data() + gz.size() - 4);
  const uint64_t isize = tail[0] | tail[1] << 8 | tail[2] << 16 | uint64_t{tail[3]} << 24;
  if (isize > kMaxWholeInflateBytes ||
      budget.bytes + isize > budget.limits.max_uncompressed_bytes) {
    return std::nullopt;
  }
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorFree> decompressor(
      libdeflate_alloc_decompressor());
  std::string out(isize, '\0');
  size_t in_used = 0;
  size_t out_used = 0;
  libdeflate_result r = libdeflate_gzip_decompress_ex(decompressor.get(), gz.data(), gz.size(),
                                                      out.data(), out.size(), &in_used, &out_used);
  if (r == LIBDEFLATE_BAD_DATA) return RefuseLayer(layer, "corrupt gzip data");
  if (r != LIBDEFLATE_SUCCESS || in_used != gz.size() || out_used != isize) return std::nullopt;
  return out;
}

// Reads one gzip'd tar layer, checking every member and keeping the bytes of
// the members named in `keep`.
absl::StatusOr<Layer> ReadLayer(std::string_view bytes, const std::string& layer,
                                const std::vector<std::string>& keep, Budget& budget) {
  ASSIGN_OR_RETURN(std::optional<std::string> tar, InflateWhole(bytes, layer, budget));
  ArchiveReadHandle a(archive_read_new());
  archive_read_support_format_tar(a.get());
  int opened;
  if (tar) {
    budget.bytes += tar->size();
    opened = archive_read_open_memory(a.get(), tar->data(), tar->size());
  } else {
    archive_read_support_filter_gzip(a.get());
    opened = archive_read_open_memory(a.get(), bytes.data(), bytes.size());
  }
  if (opened != ARCHIVE_OK) {
    return RefuseLayer(layer, absl::StrCat("not a gzip'd tar: ", archive_error_string(a.get())));
  }
  // On the streaming path the layer's bytes count as they are inflated, so a
  // bomb stops at the limit instead of after inflating.
  auto over_budget = [&] {
    return !tar && budget.bytes + static_cast<uint64_t>(archive_filter_bytes(a.get(), 0)) >
                       budget.limits.max_uncompressed_bytes;
  };
  auto too_big = [&] {
    return RefuseLayer(layer, absl::StrCat("more than ", budget.limits.max_uncompressed_bytes,
                                           " bytes uncompressed (a gzip bomb?)"));
  };
  Layer out;
  std::vector<char> block(kReadBlock);
  archive_entry* entry = nullptr;
  int r;
  while ((r = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK) {
    if (++budget.entries > budget.limits.max_entries) {
      return RefuseLayer(layer, absl::StrCat("more than ", budget.limits.max_entries, " entries"));
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view full = raw_name != nullptr ? raw_name : "";
    std::string name(StripDotSlash(full));
    while (!name.empty() && name.back() == '/') name.pop_back();
    if (name.empty() && archive_entry_filetype(entry) == AE_IFDIR) continue;  // "./"
    if (auto why = BadMemberName(name)) return Refuse(layer, full, *why);
    if (auto why = FileTypeProblem(archive_entry_filetype(entry)); !why.empty()) {
      return Refuse(layer, full, why);
    }
    if (const char* hard = archive_entry_hardlink(entry); hard != nullptr) {
      std::string_view target = StripDotSlash(hard);
      if (auto why = BadMemberName(target)) {
        return Refuse(layer, full, absl::StrCat("hard link target \"", hard, "\": ", *why));
      }
    } else if (archive_entry_filetype(entry) == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      if (auto why = BadSymlinkTarget(name, target != nullptr ? target : "")) {
        return Refuse(layer, full, absl::StrCat(*why, " (-> ", target != nullptr ? target : "", ")"));
      }
    }
    out.names.push_back(name);
    const bool kept = std::find(keep.begin(), keep.end(), name) != keep.end() &&
                      archive_entry_filetype(entry) == AE_IFREG;
    std::string* sink = kept ? &out.members[name] : nullptr;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), block.data(), block.size());
      if (n < 0) {
        return Refuse(layer, full, absl::StrCat("unreadable: ", archive_error_string(a.get())));
      }
      if (n == 0) break;
      if (over_budget()) return too_big();
      if (sink != nullptr) sink->append(block.data(), static_cast<size_t>(n));
    }
  }
  if (r != ARCHIVE_EOF) {
    if (over_budget()) return too_big();
    const char* why = archive_error_string(a.get());
    return RefuseLayer(layer, absl::StrCat("not a well-formed gzip'd tar: ",
                                           why != nullptr ? why : "unknown error"));
  }
  if (!tar) {
    if (archive_filter_count(a.get()) < 2 ||
        archive_filter_code(a.get(), 0) != ARCHIVE_FILTER_GZIP) {
      return RefuseLayer(layer, "not gzip-compressed");
    }
    budget.bytes += static_cast<uint64_t>(archive_filter_bytes(a.get(), 0));
    if (budget.bytes > budget.limits.max_uncompressed_bytes) return too_big();
  }
  if (out.names.empty()) return RefuseLayer(layer, "empty archive");
  return out;
}

bool Has(const Layer& layer, std::string_view name) {
  return std::find(layer.names.begin(), layer.names.end(), name) != layer.names.end();
}

// local.tgz: ESXi's /etc, as relative etc/... paths.
absl::Status CheckLocalTgz(const std::string& bytes, const std::string& layer, Budget& budget) {
  auto local = ReadLayer(bytes, layer, {}, budget);
  if (!local.ok()) return local.status();
  for (const std::string& name : local->names) {
    if (name != "etc" && !name.starts_with("etc/")) {
      return Refuse(layer, name, "local.tgz holds only etc/... paths");
    }
  }
  return absl::OkStatus();
}

// state.tgz: local.tgz, or on ESXi 7+ the encrypted local.tgz.ve with its
// encryption.info (opaque to us: ESXi decrypts it with the host's own key).
absl::Status CheckStateLayer(const Layer& state, const std::string& layer, Budget& budget) {
  if (Has(state, "local.tgz")) {
    auto it = state.members.find("local.tgz");
    if (it == state.members.end()) return Refuse(layer, "local.tgz", "must be a regular file");
    return CheckLocalTgz(it->second, layer + "/local.tgz", budget);
  }
  if (Has(state, "local.tgz.ve") && Has(state, "encryption.info")) return absl::OkStatus();
  if (Has(state, "local.tgz.ve")) return RefuseLayer(layer, "local.tgz.ve without encryption.info");
  return RefuseLayer(layer, "missing local.tgz (or local.tgz.ve + encryption.info)");
}

std::string ReleaseLevel(const std::string& manifest) {
  size_t start = 0;
  while (start < manifest.size()) {
    size_t end = manifest.find('\n', start);
    if (end == std::string::npos) end = manifest.size();
    std::string_view line(manifest.data() + start, end - start);
    if (line.starts_with("RELEASELEVEL=")) {
      line.remove_prefix(13);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      return std::string(line);
    }
    start = end + 1;
  }
  return "";
}

StateKind DetectKind(const Layer& top) {
  if (Has(top, "Manifest.txt") && Has(top, "state.tgz")) return StateKind::kEsxiConfigBundle;
  if (Has(top, "local.tgz") || Has(top, "local.tgz.ve")) return StateKind::kEsxiState;
  return StateKind::kPlainTarball;
}

}  // namespace

std::string_view StateKindName(StateKind kind) {
  switch (kind) {
    case StateKind::kEsxiState: return "esxi-state";
    case StateKind::kEsxiConfigBundle: return "esxi-config-bundle";
    case StateKind::kPlainTarball: return "plain-tarball";
  }
  return "unknown";
}

absl::StatusOr<StateKind> ParseStateKind(std::string_view name) {
  for (StateKind k : {StateKind::kEsxiState, StateKind::kEsxiConfigBundle, StateKind::kPlainTarball}) {
    if (name == StateKindName(k)) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown state kind \"", std::string(name),
      "\": expected esxi-state, esxi-config-bundle or plain-tarball"));
}

absl::StatusOr<StateArchiveInfo> ValidateStateArchive(std::string_view archive,
                                                      std::optional<StateKind> expected,
                                                      const StateArchiveLimits& limits) {
  Budget budget{limits};
  const std::string top_name = "archive";
  auto top = ReadLayer(archive, top_name, {"local.tgz", "state.tgz", "Manifest.txt"}, budget);
  if (!top.ok()) return top.status();
  StateArchiveInfo info;
  info.kind = DetectKind(*top);
  if (expected && *expected != info.kind) {
    return RefuseLayer(top_name, absl::StrCat("declared ", std::string(StateKindName(*expected)),
                                              " but the members make it ",
                                              std::string(StateKindName(info.kind))));
  }
  switch (info.kind) {
    case StateKind::kEsxiState: {
      if (auto st = CheckStateLayer(*top, top_name, budget); !st.ok()) return st;
      break;
    }
    case StateKind::kEsxiConfigBundle: {
      auto it = top->members.find("state.tgz");
      if (it == top->members.end()) return Refuse(top_name, "state.tgz", "must be a regular file");
      const std::string layer = top_name + "/state.tgz";
      auto state = ReadLayer(it->second, layer, {"local.tgz"}, budget);
      if (!state.ok()) return state.status();
      if (auto st = CheckStateLayer(*state, layer, budget); !st.ok()) return st;
      std::string release = ReleaseLevel(top->members["Manifest.txt"]);
      if (!release.empty()) info.labels["esxi_build"] = release;
      break;
    }
    case StateKind::kPlainTarball:
      break;
  }
  info.entries = budget.entries;
  info.uncompressed_bytes = budget.bytes;
  return info;
}

}  // namespace midwife
