// aprc perplexity MODEL FILE: the perplexity of a text under a model file, on the reference
// interpreter (the default) or on a plan compiled for --engine cpu|cuda into a temporary file.
// Plans go to the shared plan command (tools/cli/perplexity_command.cpp).
#include <algorithm>
#include <cstdio>

#include "../cli/console_progress.h"
#include "../cli/perplexity_command.h"
#include "../cli/temp_path.h"
#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/interpreter/reference_model.h"
#include "aprc/model.h"
#include "commands.h"

namespace aprc {

int cmd_perplexity(int argc, char** argv) {
  cli::Args args("perplexity", argc, argv, cli::perplexity_value_flags(), cli::perplexity_bool_flags());
  if (args.flag("help")) {
    std::fputs(cli::perplexity_help(), stdout);
    return 0;
  }
  args.expect_positionals(2, 2);
  const std::string model_path = args.positional(0, "MODEL");
  const std::string engine = args.value_or("engine", "reference");
  if (engine == "reference") {
    reference::ReferenceModel model(model_path);
    if (model.model().tokenizer.empty()) throw_bad_input(model_path + ": the model carries no tokenizer");
    const Tokenizer tokenizer(model.model().tokenizer, model_path);
    return cli::perplexity_report(args, tokenizer, model.vocab_size(), engine, [&](std::span<const int32_t> window) {
      model.reset();
      return model.prefill_all(window);
    });
  }
  if (engine != "cpu" && engine != "cuda")
    throw_bad_input("aprc perplexity: unknown --engine '" + engine + "' (engines: reference, cpu, cuda)");

  // A plan of the model for that engine, in a temporary file removed afterwards.
  const cli::TempPath plan_path("aprc-perplexity", ".plan");
  const Model model = load_model(model_path);
  codegen::CompileOptions options;
  options.targets = codegen::parse_targets(engine);
  options.max_tokens = std::max<int64_t>(options.max_tokens, args.int_or("window", 512));
  cli::ConsoleProgress progress(args.flag("quiet"));
  codegen::compile_plan(model, plan_path.str(), options, &progress);
  return cli::perplexity_on_plan(args, plan_path.str());
}

}  // namespace aprc
