#ifndef MIDWIFE_IMAGEBUILDER_CLI_COMMANDS_H_
#define MIDWIFE_IMAGEBUILDER_CLI_COMMANDS_H_

// The imagebuilder subcommands over the library: main.cc fills CliOptions
// from flags, RunCommand does the work and prints the result on stdout. A
// failure comes back as a Status whose message is one line saying what went
// wrong and what to do; main prints it on stderr and exits non-zero.

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "imagebuilder/image_repository.h"

namespace midwife::imagebuilder::cli {

struct CliOptions {
  std::string command;  // "import", "compose", "list", "show", "diff", "verify", "gc", "remove"
  std::string repo = kDefaultRepositoryDir;
  bool json = false;

  std::string source;  // import
  std::string name;    // import, compose: the new image
  std::string version;
  std::string kind = "esxi";

  std::string from;  // compose
  std::vector<std::string> add;
  std::vector<std::string> remove;
  std::vector<std::string> replace;
  std::optional<std::string> kernelopt;
  std::optional<std::string> append_kernelopt;
  std::optional<std::string> title;

  std::vector<std::string> images;  // show, remove: one; diff: two (NAME@VERSION)
  bool dry_run = false;             // gc

  std::string state_action;          // state: pack, unpack, list, diff
  std::vector<std::string> paths;    // state: the folder or archives
  std::string out;                   // state pack: output archive; unpack: folder
  std::string state_format = "esxi";  // state pack: esxi, tarball or cpio

  bool force = false;  // remove: without asking the state store
  std::string statestore = "127.0.0.1:7411";  // remove: where assignments live
  std::string statestore_token_file = "data/statestore/admin.token";

  std::string mac;     // render
  std::string server;  // render: "http://host:port"
  std::string token;   // render: the host's token (optional)
  std::string firmware = "bios";  // render: bios or uefi
};

absl::Status RunCommand(const CliOptions& options, std::ostream& out);

}  // namespace midwife::imagebuilder::cli

#endif  // MIDWIFE_IMAGEBUILDER_CLI_COMMANDS_H_
