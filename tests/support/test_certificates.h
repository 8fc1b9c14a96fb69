#ifndef MIDWIFE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
#define MIDWIFE_TESTS_SUPPORT_TEST_CERTIFICATES_H_

// A throw-away certificate authority for TLS tests, made with the real openssl
// CLI: <dir>/ca.crt (and ca.key), and for each name a key <dir>/<name>.key
// (mode 0600) and a certificate <dir>/<name>.crt for 127.0.0.1 and localhost,
// signed by the CA, valid two days.

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace midwife::testing {

// INTERNAL with openssl's output when a step fails.
absl::Status MakeTestCertificates(const std::string& dir, const std::vector<std::string>& names);

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
