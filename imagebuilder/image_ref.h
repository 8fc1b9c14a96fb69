#ifndef MIDWIFE_IMAGEBUILDER_IMAGE_REF_H_
#define MIDWIFE_IMAGEBUILDER_IMAGE_REF_H_

// How people and host records name an image: "name@version", e.g.
// "esxi@8.0u2-vendor". Both parts follow the OCI tag grammar
// ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}, image-spec annotations.md for
// org.opencontainers.image.ref.name), so that the pair can be stored in an OCI
// index as "name:version" and pushed to a registry unchanged. Pure; a value type.

#include <compare>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife::imagebuilder {

struct ImageRef {
  std::string name;
  std::string version;

  // "name@version", the form the CLI and host records use.
  std::string ToString() const { return name + "@" + version; }
  // "name:version", the form of the org.opencontainers.image.ref.name annotation.
  std::string ToOciRefName() const { return name + ":" + version; }

  friend bool operator==(const ImageRef&, const ImageRef&) = default;
  friend auto operator<=>(const ImageRef&, const ImageRef&) = default;
};

// Parses "name@version". INVALID_ARGUMENT naming the text and what is expected.
absl::StatusOr<ImageRef> ParseImageRef(std::string_view text);

// Parses the "name:version" of an index annotation.
absl::StatusOr<ImageRef> ParseOciRefName(std::string_view text);

// Checks one part ("name" or "version" in the message) against the grammar.
absl::Status ValidateImageRefPart(std::string_view what, std::string_view value);

}  // namespace midwife::imagebuilder

#endif  // MIDWIFE_IMAGEBUILDER_IMAGE_REF_H_
