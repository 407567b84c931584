// The entry points of aprc's subcommands (one file each).
#pragma once

namespace aprc {

int cmd_version(int argc, char** argv);

}  // namespace aprc
