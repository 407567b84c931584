// The subcommand table shared by `aprc` and `aprc-rt`, and the one place that turns errors into
// exit codes: aprc::Error of kind BadInput -> 2, anything else -> 1. Nothing escapes as a signal.
#pragma once

#include <span>

namespace aprc::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv excludes the program and the subcommand name
};

int run_main(const char* program, int argc, char** argv, std::span<const Command> commands);

}  // namespace aprc::cli
