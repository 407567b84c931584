// aprc perplexity MODEL|PLAN FILE: the perplexity of a text file (aprc/perplexity.h). The plan
// side is shared by aprc and aprc-rt; aprc adds model files (the reference interpreter, or a plan
// compiled on the spot for --engine cpu|cuda) through perplexity_report.
#pragma once

#include <set>
#include <string>

#include "aprc/perplexity.h"
#include "aprc/tokenizer.h"
#include "args.h"

namespace aprc::cli {

// The flags of `aprc perplexity` (engine flags included) and its help.
std::set<std::string> perplexity_value_flags();
std::set<std::string> perplexity_bool_flags();
const char* perplexity_help();

// Reads FILE (the second positional), tokenizes it (no BOS, no template), runs the sliding-window
// perplexity with the window function and prints the result (text, or --json); progress to stderr.
int perplexity_report(const Args& args, const Tokenizer& tokenizer, int64_t vocab, const std::string& engine,
                      const WindowLogits& window_logits);

// The plan command (aprc-rt perplexity, and aprc perplexity on a plan).
int cmd_perplexity_plan(int argc, char** argv);
// The same on an opened plan path, for aprc's model-file command after it compiled one.
int perplexity_on_plan(const Args& args, const std::string& plan_path);

}  // namespace aprc::cli
