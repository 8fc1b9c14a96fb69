#include "core/state_archive.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "core/tar_entry_rules.h"
#include "core/tar_layer_reader.h"

namespace midwife {
namespace {

// Debian's Abseil has its own string_view, distinct from std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Longest RELEASELEVEL kept as a label: real ones are ~40 bytes, and the
// statestore caps label values at 512.
constexpr size_t kMaxReleaseLevelBytes = 256;

constexpr char kManifest[] = "Manifest.txt";
constexpr char kStateTgz[] = "state.tgz";
constexpr char kLocalTgz[] = "local.tgz";
constexpr char kLocalTgzVe[] = "local.tgz.ve";
constexpr char kEncryptionInfo[] = "encryption.info";

absl::Status Refuse(absl::string_view layer, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(layer, ": ", reason));
}

std::string_view LayerName(StateKind kind) {
  switch (kind) {
    case StateKind::kEsxiState:
      return "state.tgz";
    case StateKind::kEsxiConfigBundle:
      return "configBundle";
    case StateKind::kPlainTarball:
      break;
  }
  return "tarball";
}

// A layer whose kind is `kind`, or unknown yet: every member that decides the
// kind is noted, and the bytes of those the kind goes on to read are kept.
TarLayerOptions LayerOptions(std::string name, std::optional<StateKind> kind) {
  TarLayerOptions options{
      std::move(name), "", {kManifest, kStateTgz, kLocalTgz, kLocalTgzVe, kEncryptionInfo}, {}};
  if (!kind) {
    options.keep = {kManifest, kStateTgz, kLocalTgz};
  } else if (*kind == StateKind::kEsxiState) {
    options.keep = {kLocalTgz};
  } else if (*kind == StateKind::kEsxiConfigBundle) {
    options.keep = {kManifest, kStateTgz};
  }
  return options;
}

StateKind DetectKind(const TarLayerMembers& m) {
  if (m.has(kManifest) && m.has(kStateTgz)) return StateKind::kEsxiConfigBundle;
  if (m.has(kLocalTgz) || m.has(kLocalTgzVe)) return StateKind::kEsxiState;
  return StateKind::kPlainTarball;
}

// Refuses a kind other than the expected one. An expected ESXi kind whose
// members are simply missing is left to that kind's check, which names them.
absl::Status CheckKind(const TarLayerMembers& m, std::optional<StateKind> expected,
                       absl::string_view layer) {
  const StateKind found = DetectKind(m);
  if (!expected || *expected == found || found == StateKind::kPlainTarball) {
    return absl::OkStatus();
  }
  absl::string_view evidence = "Manifest.txt and state.tgz at the top";
  if (found == StateKind::kEsxiState) {
    evidence = m.has(kLocalTgz) ? "local.tgz at the top" : "local.tgz.ve at the top";
  }
  return Refuse(layer, absl::StrCat("expected ", Absl(StateKindName(*expected)), ", found ",
                                    Absl(StateKindName(found)), " (", evidence, ")"));
}

absl::Status CheckEsxiState(const TarLayerMembers& m, const std::string& layer, TarBudget& budget) {
  if (m.has(kLocalTgz)) {
    // ESXi unpacks local.tgz over its root: only etc/ may be in it.
    TarLayerOptions local{layer + "/" + kLocalTgz, "etc", {}, {}};
    return ReadTarLayer(m.kept.at(kLocalTgz), local, budget).status();
  }
  if (m.has(kLocalTgzVe)) {
    // Encrypted with the host's own key: nothing to look into here.
    if (m.has(kEncryptionInfo)) return absl::OkStatus();
    return Refuse(layer, "missing encryption.info (ESXi 7+ keeps it beside local.tgz.ve)");
  }
  return Refuse(layer, "missing local.tgz (or, from ESXi 7, local.tgz.ve and encryption.info)");
}

// Manifest.txt lines are KEY=value; returns RELEASELEVEL's value, trimmed.
absl::StatusOr<std::optional<std::string>> ReleaseLevel(absl::string_view manifest,
                                                        const std::string& layer) {
  while (!manifest.empty()) {
    const size_t eol = manifest.find('\n');
    const absl::string_view line = manifest.substr(0, eol);
    manifest = eol == absl::string_view::npos ? absl::string_view() : manifest.substr(eol + 1);
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos ||
        absl::StripAsciiWhitespace(line.substr(0, eq)) != "RELEASELEVEL") {
      continue;
    }
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (value.empty()) return std::nullopt;
    const std::string where = absl::StrCat(layer, ": entry \"", kManifest, "\"");
    if (value.size() > kMaxReleaseLevelBytes) {
      return Refuse(where,
                    absl::StrCat("RELEASELEVEL is longer than ", kMaxReleaseLevelBytes, " bytes"));
    }
    for (char c : value) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return Refuse(where, "RELEASELEVEL holds control characters");
      }
    }
    return std::string(value);
  }
  return std::nullopt;
}

absl::Status CheckBundle(const TarLayerMembers& m, const std::string& layer, TarBudget& budget,
                         std::map<std::string, std::string>& labels) {
  std::vector<absl::string_view> missing;
  if (!m.has(kManifest)) missing.push_back(kManifest);
  if (!m.has(kStateTgz)) missing.push_back(kStateTgz);
  if (!missing.empty()) {
    return Refuse(layer, absl::StrCat("missing ", absl::StrJoin(missing, " and "),
                                      " (a config bundle holds Manifest.txt and state.tgz)"));
  }
  const std::string state_layer = layer + "/" + kStateTgz;
  ASSIGN_OR_RETURN(
      TarLayerMembers state,
      ReadTarLayer(m.kept.at(kStateTgz), LayerOptions(state_layer, StateKind::kEsxiState), budget));
  RETURN_IF_ERROR(CheckKind(state, StateKind::kEsxiState, state_layer));
  RETURN_IF_ERROR(CheckEsxiState(state, state_layer, budget));
  ASSIGN_OR_RETURN(std::optional<std::string> release, ReleaseLevel(m.kept.at(kManifest), layer));
  if (release) labels["esxi_build"] = std::move(*release);
  return absl::OkStatus();
}

}  // namespace

std::string_view StateKindName(StateKind kind) {
  switch (kind) {
    case StateKind::kEsxiState:
      return "esxi-state";
    case StateKind::kEsxiConfigBundle:
      return "esxi-config-bundle";
    case StateKind::kPlainTarball:
      break;
  }
  return "plain-tarball";
}

absl::StatusOr<StateKind> ParseStateKind(std::string_view name) {
  for (StateKind kind :
       {StateKind::kEsxiState, StateKind::kEsxiConfigBundle, StateKind::kPlainTarball}) {
    if (name == StateKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("state kind ", QuoteTarName(name),
                   ": expected esxi-state, esxi-config-bundle or plain-tarball"));
}

absl::StatusOr<StateArchiveInfo> ValidateStateArchive(std::string_view archive,
                                                      std::optional<StateKind> expected,
                                                      const StateArchiveLimits& limits) {
  TarBudget budget{limits.max_entries, limits.max_uncompressed_bytes};
  // Until its members are known, a layer of undetected kind is "archive".
  const std::string first_name(expected ? LayerName(*expected) : "archive");
  ASSIGN_OR_RETURN(TarLayerMembers top,
                   ReadTarLayer(archive, LayerOptions(first_name, expected), budget));
  StateArchiveInfo info;
  info.kind = expected.value_or(DetectKind(top));
  const std::string layer(LayerName(info.kind));
  RETURN_IF_ERROR(CheckKind(top, expected, layer));
  switch (info.kind) {
    case StateKind::kEsxiState:
      RETURN_IF_ERROR(CheckEsxiState(top, layer, budget));
      break;
    case StateKind::kEsxiConfigBundle:
      RETURN_IF_ERROR(CheckBundle(top, layer, budget, info.labels));
      break;
    case StateKind::kPlainTarball:
      break;
  }
  info.entries = budget.entries;
  info.uncompressed_bytes = budget.bytes;
  return info;
}

}  // namespace midwife
