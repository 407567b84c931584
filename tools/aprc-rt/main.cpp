// aprc-rt: the runtime's commands only, on compiled plans. No compiler, no LLVM or MLIR, and
// libstdc++ linked in, so that it can be copied to a machine (a GPU box) that has none of them.
#include "../aprc/commands.h"
#include "../cli/command.h"
#include "../cli/perplexity_command.h"
#include "../cli/plan_commands.h"

int main(int argc, char** argv) {
  static const aprc::cli::Command kCommands[] = {
      {"run", "generate text with a plan", aprc::cli::cmd_run_plan},
      {"logits", "write the logits of every prompt position", aprc::cli::cmd_logits_plan},
      {"perplexity", "perplexity of a text file (sliding window)", aprc::cli::cmd_perplexity_plan},
      {"bench", "prefill and decode speed against the measured memory bandwidth", aprc::cli::cmd_bench},
      {"kernels", "a plan's kernels: the ops they implement, their source, registers and shared memory",
       aprc::cli::cmd_kernels},
      {"record", "record every value a plan's steps name, for aprc verify --recorded elsewhere",
       aprc::cli::cmd_record},
      {"tokenize", "print the token ids of a text (the plan's tokenizer)", aprc::cmd_tokenize},
      {"detokenize", "print the text of token ids", aprc::cmd_detokenize},
      {"version", "print the version", aprc::cmd_version},
  };
  return aprc::cli::run_main("aprc-rt", argc, argv, kCommands);
}
