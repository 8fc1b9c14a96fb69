#ifndef MIDWIFE_STATESTORE_CLI_CLIENT_COMMANDS_H_
#define MIDWIFE_STATESTORE_CLI_CLIENT_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "statestore/client.h"

namespace midwife::statestore::cli {

// What one `statestore <command>` invocation asked for, flags parsed.
struct ClientCommand {
  std::string name;  // backup, restore, versions, hosts, stat, delete, pin, copy, token
  std::string mac;
  std::string from_mac;
  std::string to_mac;
  std::string file;  // backup input
  std::string out;   // restore output; "-" for stdout
  std::string kind;  // backup kind name; empty: detect
  std::vector<std::string> labels;  // key=value
  std::optional<uint64_t> expected_version;
  uint64_t version = 0;  // 0: newest
  bool unpin = false;
  uint32_t page_size = 500;
  bool json = false;
};

// Runs the command against the server and prints its result to stdout.
// Returns the error to print (one line) and exit non-zero on.
absl::Status RunClientCommand(const ClientCommand& command, StateStoreClient& client);

// The token to send: --token, else --token-file, else $MIDWIFE_TOKEN, else
// the local server's default admin token file, if readable.
absl::StatusOr<std::string> ResolveToken(const std::string& token, const std::string& token_file);

}  // namespace midwife::statestore::cli

#endif  // MIDWIFE_STATESTORE_CLI_CLIENT_COMMANDS_H_
