// aprc: the compiler's command line. Each subcommand lives in its own file under tools/aprc/ or,
// for the commands that also run on plans without the compiler, under tools/cli/.
#include "../cli/command.h"
#include "commands.h"

int main(int argc, char** argv) {
  static const aprc::cli::Command kCommands[] = {
      {"version", "print the version", aprc::cmd_version},
      {"tokenize", "print the token ids of a text", aprc::cmd_tokenize},
      {"detokenize", "print the text of token ids", aprc::cmd_detokenize},
  };
  return aprc::cli::run_main("aprc", argc, argv, kCommands);
}
