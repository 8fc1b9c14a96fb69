#include "bootserver/tftp/tftp_path.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace midwife::bootserver::tftp {
namespace {

absl::Status Refuse(std::string_view requested, std::string_view why) {
  return absl::PermissionDeniedError(
      absl::StrCat("TFTP path \"", absl::CEscape(std::string(requested.substr(0, 256))),
                   "\": ", std::string(why)));
}

}  // namespace

absl::StatusOr<std::string> NormalizeTftpPath(std::string_view requested) {
  if (requested.size() > kMaxTftpPathBytes) {
    return Refuse(requested, absl::StrCat("longer than ", kMaxTftpPathBytes, " bytes"));
  }
  for (char c : requested) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) return Refuse(requested, "contains NUL");
    if (byte < 0x20 || byte == 0x7f) return Refuse(requested, "contains a control character");
  }
  if (requested.size() >= 2 && absl::ascii_isalpha(static_cast<unsigned char>(requested[0])) &&
      requested[1] == ':') {
    return Refuse(requested, "drive prefix refused");
  }
  std::vector<std::string_view> components;
  size_t start = 0;
  for (size_t i = 0; i <= requested.size(); ++i) {
    if (i < requested.size() && requested[i] != '/' && requested[i] != '\\') continue;
    const std::string_view component = requested.substr(start, i - start);
    start = i + 1;
    if (component.empty() || component == ".") continue;
    if (component == "..") return Refuse(requested, "\"..\" component refused");
    components.push_back(component);
  }
  if (components.empty()) return Refuse(requested, "empty file name");
  std::string path;
  for (std::string_view component : components) {
    if (!path.empty()) path.push_back('/');
    path.append(component);
  }
  return path;
}

}  // namespace midwife::bootserver::tftp
