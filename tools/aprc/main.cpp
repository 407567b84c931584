// aprc: the compiler's command line. Each subcommand lives in its own file under tools/aprc/ or,
// for the commands that also run on plans without the compiler, under tools/cli/.
#include "../cli/command.h"
#include "commands.h"

int main(int argc, char** argv) {
  static const aprc::cli::Command kCommands[] = {
      {"version", "print the version", aprc::cmd_version},
      {"tokenize", "print the token ids of a text", aprc::cmd_tokenize},
      {"detokenize", "print the text of token ids", aprc::cmd_detokenize},
      {"inspect", "show a model file's config, tokenizer and tensors", aprc::cmd_inspect},
      {"import", "convert a GGUF file or Hugging Face folder to APR v2", aprc::cmd_import},
#ifdef APRC_WITH_COMPILER  // the commands that need MLIR (APRC_BUILD_COMPILER)
      {"compile", "compile a model (--emit ir: print its aprc module)", aprc::cmd_compile},
      {"logits", "write the logits of every prompt position", aprc::cmd_logits},
      {"run", "generate text from a prompt", aprc::cmd_run},
#endif
  };
  return aprc::cli::run_main("aprc", argc, argv, kCommands);
}
