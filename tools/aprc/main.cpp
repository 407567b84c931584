// aprc: the compiler's command line. Each subcommand lives in its own file under tools/aprc/ or,
// for the commands that also run on plans without the compiler, under tools/cli/.
#include "../cli/command.h"
#include "../cli/perplexity_command.h"
#include "../cli/plan_commands.h"
#include "commands.h"

#ifdef APRC_WITH_COMPILER  // the model-file commands need MLIR (APRC_BUILD_COMPILER)
constexpr aprc::cli::CommandFn kRunModel = aprc::cmd_run, kLogitsModel = aprc::cmd_logits,
                               kPerplexityModel = aprc::cmd_perplexity;
#else
constexpr aprc::cli::CommandFn kRunModel = nullptr, kLogitsModel = nullptr, kPerplexityModel = nullptr;
#endif

int main(int argc, char** argv) {
  static const aprc::cli::Command kCommands[] = {
#ifdef APRC_WITH_COMPILER
      {"demo", "what the compiler does, then text from the built-in model", aprc::cmd_demo},
#endif
      {"version", "print the version", aprc::cmd_version},
      {"tokenize", "print the token ids of a text", aprc::cmd_tokenize},
      {"detokenize", "print the text of token ids", aprc::cmd_detokenize},
      {"inspect", "show a model file's config, tokenizer and tensors", aprc::cmd_inspect},
      {"import", "convert a model to APR v2 or GGUF, kept or quantized (--quant q4_k_m)", aprc::cmd_import},
#ifdef APRC_WITH_COMPILER
      {"compile", "compile a model into a plan (--emit ir: print its aprc module)", aprc::cmd_compile},
      {"verify", "check a plan's engines against the reference interpreter, op by op (--report: fp8 weights)",
       aprc::cmd_verify},
#endif
      // run and logits take a plan (the compiled code) or a model file (the reference interpreter).
      {"run", "generate text from a prompt",
       [](int argc, char** argv) { return aprc::cli::dispatch_on_plan(argc, argv, aprc::cli::cmd_run_plan, kRunModel); }},
      {"logits", "write the logits of every prompt position",
       [](int argc, char** argv) {
         return aprc::cli::dispatch_on_plan(argc, argv, aprc::cli::cmd_logits_plan, kLogitsModel);
       }},
      {"perplexity", "perplexity of a text file (sliding window)",
       [](int argc, char** argv) {
         return aprc::cli::dispatch_on_plan(argc, argv, aprc::cli::cmd_perplexity_plan, kPerplexityModel);
       }},
      {"bench", "prefill and decode speed of a plan against the measured memory bandwidth", aprc::cli::cmd_bench},
      {"kernels", "a plan's kernels: the ops they implement, their source, registers and shared memory",
       aprc::cli::cmd_kernels},
      {"record", "record every value a plan's steps name, for aprc verify --recorded elsewhere",
       aprc::cli::cmd_record},
  };
  return aprc::cli::run_main("aprc", argc, argv, kCommands);
}
