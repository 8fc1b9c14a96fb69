#ifndef MIDWIFE_BOOTSERVER_TFTP_TFTP_PATH_H_
#define MIDWIFE_BOOTSERVER_TFTP_TFTP_PATH_H_

// The file name of a TFTP request, made safe to join under the TFTP root.
// Pure, thread-safe.
//
// PXE ROMs and boot loaders write names in many ways: "/ipxe.efi",
// "\\boot\\x64\\ipxe.efi" (Windows-minded firmware), "pxelinux.cfg//01-aa-..".
// All of these name a file under the root. The rules:
// - '\' is a separator, like '/'; leading separators are stripped, so an
//   "absolute" name is relative to the root; empty and "." components drop.
// - Refused, with PERMISSION_DENIED (TFTP error 2, access violation, via
//   ErrorCodeFor) and the reason: a ".." component (even one that would stay
//   inside the root: no client needs it), a NUL or other control character,
//   a drive prefix such as "C:", a name that is empty after cleaning, and a
//   name longer than kMaxTftpPathBytes.
// The result is "a/b/c": no leading, trailing or doubled '/'.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace midwife::bootserver::tftp {

// Longer than any real boot file path; PATH_MAX-sized names are an attack.
inline constexpr size_t kMaxTftpPathBytes = 1024;

absl::StatusOr<std::string> NormalizeTftpPath(std::string_view requested);

}  // namespace midwife::bootserver::tftp

#endif  // MIDWIFE_BOOTSERVER_TFTP_TFTP_PATH_H_
