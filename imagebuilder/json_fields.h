#ifndef MIDWIFE_IMAGEBUILDER_JSON_FIELDS_H_
#define MIDWIFE_IMAGEBUILDER_JSON_FIELDS_H_

// Non-throwing field access for the repository's JSON codecs (oci_format.cc,
// image_manifest.cc): nlohmann::json's at()/get() throw on a wrong type, and a
// corrupt or hand-edited file must come back as a Status, not an exception.
// Internal to imagebuilder; every error names the field ("layers[3].digest").

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace midwife::imagebuilder::json_fields {

inline absl::Status FieldError(std::string_view field, std::string_view expected) {
  return absl::InvalidArgumentError(std::string(field) + ": expected " + std::string(expected));
}

inline absl::StatusOr<nlohmann::json> ParseObject(std::string_view text, std::string_view what) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return absl::InvalidArgumentError(std::string(what) + " is not valid JSON");
  if (!json.is_object()) return FieldError(what, "a JSON object");
  return json;
}

// A string member; nullopt when absent and not `required`.
inline absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& object,
                                                                 const std::string& key,
                                                                 std::string_view where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return FieldError(std::string(where) + key, "a string");
  return std::optional<std::string>(it->get<std::string>());
}

inline absl::StatusOr<std::string> RequiredString(const nlohmann::json& object,
                                                  const std::string& key, std::string_view where) {
  absl::StatusOr<std::optional<std::string>> value = OptionalString(object, key, where);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return FieldError(std::string(where) + key, "a string, found none");
  return **value;
}

inline absl::StatusOr<uint64_t> RequiredUint(const nlohmann::json& object, const std::string& key,
                                             std::string_view where) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned()) {
    return FieldError(std::string(where) + key, "a non-negative integer");
  }
  return it->get<uint64_t>();
}

inline absl::StatusOr<std::map<std::string, std::string>> StringMap(const nlohmann::json& object,
                                                                    const std::string& key,
                                                                    std::string_view where) {
  std::map<std::string, std::string> out;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_object()) return FieldError(std::string(where) + key, "an object of strings");
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) return FieldError(std::string(where) + key + "." + name, "a string");
    out.emplace(name, value.get<std::string>());
  }
  return out;
}

}  // namespace midwife::imagebuilder::json_fields

#endif  // MIDWIFE_IMAGEBUILDER_JSON_FIELDS_H_
