#include "imagebuilder/oci_format.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "core/status_macros.h"
#include "imagebuilder/json_fields.h"

namespace midwife::imagebuilder {
namespace {

using json_fields::FieldError;
using json_fields::RequiredString;
using json_fields::RequiredUint;
using json_fields::StringMap;
using nlohmann::json;

constexpr std::string_view kLayoutVersion = "1.0.0";

json DescriptorJson(const OciDescriptor& d) {
  json out = {{"mediaType", d.media_type}, {"digest", d.digest.ToString()}, {"size", d.size}};
  if (!d.annotations.empty()) out["annotations"] = d.annotations;
  return out;
}

absl::StatusOr<OciDescriptor> ParseDescriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return FieldError(where, "a descriptor object");
  const std::string prefix = where + ".";
  OciDescriptor d;
  ASSIGN_OR_RETURN(d.media_type, RequiredString(j, "mediaType", prefix));
  ASSIGN_OR_RETURN(const std::string digest, RequiredString(j, "digest", prefix));
  absl::StatusOr<BlobDigest> parsed = BlobDigest::Parse(digest);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(prefix + "digest: " + std::string(parsed.status().message()));
  }
  d.digest = *parsed;
  ASSIGN_OR_RETURN(d.size, RequiredUint(j, "size", prefix));
  ASSIGN_OR_RETURN(d.annotations, StringMap(j, "annotations", prefix));
  return d;
}

absl::Status CheckSchema(const json& j, std::string_view media_type) {
  const auto version = j.find("schemaVersion");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != 2) {
    return FieldError("schemaVersion", "2");
  }
  // mediaType is optional in the spec but, when given, must be the right one.
  ASSIGN_OR_RETURN(const auto given, json_fields::OptionalString(j, "mediaType", ""));
  if (given && *given != media_type) return FieldError("mediaType", media_type);
  return absl::OkStatus();
}

}  // namespace

std::string RenderOciManifest(const OciManifest& manifest) {
  json layers = json::array();
  for (const OciDescriptor& layer : manifest.layers) layers.push_back(DescriptorJson(layer));
  json out = {{"schemaVersion", 2},
              {"mediaType", kManifestMediaType},
              {"config", DescriptorJson(manifest.config)},
              {"layers", std::move(layers)}};
  if (!manifest.annotations.empty()) out["annotations"] = manifest.annotations;
  return out.dump();
}

absl::StatusOr<OciManifest> ParseOciManifest(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return FieldError("manifest", "at most 4 MiB");
  ASSIGN_OR_RETURN(const json j, json_fields::ParseObject(text, "manifest"));
  RETURN_IF_ERROR(CheckSchema(j, kManifestMediaType));
  OciManifest manifest;
  const auto config = j.find("config");
  if (config == j.end()) return FieldError("config", "a descriptor");
  ASSIGN_OR_RETURN(manifest.config, ParseDescriptor(*config, "config"));
  const auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return FieldError("layers", "an array");
  if (layers->size() > kMaxLayers) return FieldError("layers", "at most 4096 entries");
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(OciDescriptor layer,
                     ParseDescriptor((*layers)[i], "layers[" + std::to_string(i) + "]"));
    manifest.layers.push_back(std::move(layer));
  }
  ASSIGN_OR_RETURN(manifest.annotations, StringMap(j, "annotations", ""));
  return manifest;
}

std::string RenderOciIndex(const OciIndex& index) {
  json manifests = json::array();
  for (const OciDescriptor& d : index.manifests) manifests.push_back(DescriptorJson(d));
  const json out = {
      {"schemaVersion", 2}, {"mediaType", kIndexMediaType}, {"manifests", std::move(manifests)}};
  return out.dump(2) + "\n";
}

absl::StatusOr<OciIndex> ParseOciIndex(std::string_view text) {
  if (text.size() > kMaxIndexBytes) return FieldError("index", "at most 64 MiB");
  ASSIGN_OR_RETURN(const json j, json_fields::ParseObject(text, "index"));
  RETURN_IF_ERROR(CheckSchema(j, kIndexMediaType));
  OciIndex index;
  const auto manifests = j.find("manifests");
  if (manifests == j.end() || !manifests->is_array()) return FieldError("manifests", "an array");
  for (size_t i = 0; i < manifests->size(); ++i) {
    ASSIGN_OR_RETURN(OciDescriptor d,
                     ParseDescriptor((*manifests)[i], "manifests[" + std::to_string(i) + "]"));
    index.manifests.push_back(std::move(d));
  }
  return index;
}

std::string RenderOciLayout() { return json{{"imageLayoutVersion", kLayoutVersion}}.dump() + "\n"; }

absl::Status CheckOciLayout(std::string_view text) {
  ASSIGN_OR_RETURN(const json j, json_fields::ParseObject(text, "oci-layout"));
  ASSIGN_OR_RETURN(const std::string version, RequiredString(j, "imageLayoutVersion", ""));
  if (version != kLayoutVersion) {
    return absl::FailedPreconditionError("oci-layout: imageLayoutVersion " + version +
                                         " is not supported; expected 1.0.0");
  }
  return absl::OkStatus();
}

}  // namespace midwife::imagebuilder
