#ifndef MIDWIFE_BOOTSERVER_CLI_ADMIN_COMMANDS_H_
#define MIDWIFE_BOOTSERVER_CLI_ADMIN_COMMANDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "statestore/host_registry_client.h"

namespace midwife::bootserver::cli {

// One `bootserver <admin command>`: which host boots what, kept in the state
// store, taking effect on the next boot without a restart.
struct AdminCommand {
  std::string name;  // assign, unassign, rollback, alias, hosts, host, events, rules
  std::string mac;
  std::string image;
  std::string alias;
  std::string rules_file;  // rules --set FILE (JSON: {"rules":[{...}]})
  uint32_t limit = 0;
  bool json = false;
};

absl::Status RunAdminCommand(const AdminCommand& command, statestore::HostRegistryClient& registry);

}  // namespace midwife::bootserver::cli

#endif  // MIDWIFE_BOOTSERVER_CLI_ADMIN_COMMANDS_H_
