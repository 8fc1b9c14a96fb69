#ifndef MIDWIFE_IMAGEBUILDER_CLI_ASSIGNMENT_CHECK_H_
#define MIDWIFE_IMAGEBUILDER_CLI_ASSIGNMENT_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace midwife::imagebuilder::cli {

// Where the hosts' assignments live (the state store's host registry).
struct AssignmentSource {
  std::string server = "127.0.0.1:7411";
  std::string token_file = "data/statestore/admin.token";
};

// FAILED_PRECONDITION naming the hosts when any host is assigned `image` or
// holds it in a boot bank; UNAVAILABLE when the registry cannot be asked
// (the caller refuses then too, unless told to go ahead).
absl::Status CheckImageUnused(const std::string& image, const AssignmentSource& source);

}  // namespace midwife::imagebuilder::cli

#endif  // MIDWIFE_IMAGEBUILDER_CLI_ASSIGNMENT_CHECK_H_
