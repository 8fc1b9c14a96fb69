#ifndef MIDWIFE_IMAGEBUILDER_CLI_STATE_COMMANDS_H_
#define MIDWIFE_IMAGEBUILDER_CLI_STATE_COMMANDS_H_

#include <ostream>

#include "absl/status/status.h"
#include "imagebuilder/cli/commands.h"

namespace midwife::imagebuilder::cli {

// `imagebuilder state pack|unpack|list|diff`.
absl::Status RunStateCommand(const CliOptions& options, std::ostream& out);
// `imagebuilder render`: the host's boot.cfg (ESXi) and iPXE script.
absl::Status RunRender(const CliOptions& options, std::ostream& out);

}  // namespace midwife::imagebuilder::cli

#endif  // MIDWIFE_IMAGEBUILDER_CLI_STATE_COMMANDS_H_
