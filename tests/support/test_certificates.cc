#include "tests/support/test_certificates.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "tests/support/child_process.h"

namespace midwife::testing {
namespace {

absl::Status Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  CommandResult r = RunCommand(args);
  if (r.exit_code != 0)
    return absl::InternalError(absl::StrCat("openssl ", args[1], " failed: ", r.out));
  return absl::OkStatus();
}

}  // namespace

absl::Status MakeTestCertificates(const std::string& dir, const std::vector<std::string>& names) {
  const std::string ca_key = dir + "/ca.key";
  const std::string ca_crt = dir + "/ca.crt";
  if (absl::Status s = Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out",
                                ca_crt, "-subj", "/CN=midwife test CA", "-days", "2"});
      !s.ok()) {
    return s;
  }
  const std::string san = dir + "/san.ext";
  if (absl::Status s = WriteFileAtomically(san, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
      !s.ok())
    return s;
  for (const std::string& name : names) {
    const std::string key = dir + "/" + name + ".key";
    const std::string csr = dir + "/" + name + ".csr";
    if (absl::Status s =
            Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=" + name});
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            Openssl({"x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                     "-days", "2", "-out", dir + "/" + name + ".crt", "-extfile", san});
        !s.ok()) {
      return s;
    }
    ::chmod(key.c_str(), 0600);  // midwife refuses keys others may read
  }
  return absl::OkStatus();
}

}  // namespace midwife::testing
