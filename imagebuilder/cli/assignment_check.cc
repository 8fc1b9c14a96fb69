#include "imagebuilder/cli/assignment_check.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "statestore/host_registry_client.h"

namespace midwife::imagebuilder::cli {

absl::Status CheckImageUnused(const std::string& image, const AssignmentSource& source) {
  statestore::ClientOptions options;
  options.server = source.server;
  options.deadline = std::chrono::seconds(10);
  auto token = ReadSecretFile(source.token_file);
  if (!token.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot check host assignments (", token.status().message(),
                                               "); give --statestore-token-file, or --force"));
  }
  options.token = *token;
  ASSIGN_OR_RETURN(auto registry, statestore::HostRegistryClient::Connect(options));
  std::vector<std::string> users;
  std::string page_token;
  do {
    auto page = registry->ListHosts(500, page_token);
    if (!page.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot check host assignments: ", page.status().message(),
                                                 "; pass --force to remove anyway"));
    }
    for (const auto& host : page->hosts()) {
      if (host.assigned_image() == image || host.active().image() == image ||
          host.alternate().image() == image) {
        users.push_back(host.mac());
      }
    }
    page_token = page->next_page_token();
  } while (!page_token.empty());
  if (users.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      image, " is assigned to or in a boot bank of ", users.size(), " host(s): ",
      absl::StrJoin(users.begin(), users.begin() + std::min<size_t>(users.size(), 5), ", "),
      users.size() > 5 ? ", ..." : "", "; assign them another image first"));
}

}  // namespace midwife::imagebuilder::cli
