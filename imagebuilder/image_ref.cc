#include "imagebuilder/image_ref.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "core/status_macros.h"

namespace midwife::imagebuilder {
namespace {

constexpr size_t kMaxPartLength = 128;

absl::StatusOr<ImageRef> Split(std::string_view text, char separator, std::string_view form) {
  const size_t at = text.find(separator);
  if (at == std::string_view::npos) {
    return absl::InvalidArgumentError("image \"" + std::string(text.substr(0, 300)) +
                                      "\": expected " + std::string(form) + ", e.g. esxi" +
                                      separator + "8.0u2");
  }
  ImageRef ref{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
  RETURN_IF_ERROR(ValidateImageRefPart("name", ref.name));
  RETURN_IF_ERROR(ValidateImageRefPart("version", ref.version));
  return ref;
}

}  // namespace

absl::Status ValidateImageRefPart(std::string_view what, std::string_view value) {
  bool ok = !value.empty() && value.size() <= kMaxPartLength && value.front() != '.' &&
            value.front() != '-';
  for (char c : value) {
    ok = ok &&
         (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "image " + std::string(what) + " \"" + std::string(value.substr(0, 300)) +
      "\": use 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
}

absl::StatusOr<ImageRef> ParseImageRef(std::string_view text) {
  return Split(text, '@', "NAME@VERSION");
}

absl::StatusOr<ImageRef> ParseOciRefName(std::string_view text) {
  return Split(text, ':', "NAME:VERSION");
}

}  // namespace midwife::imagebuilder
