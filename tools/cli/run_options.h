// The flags of `aprc run` (on plans and on model files alike): where the prompt comes from, the
// chat template, how many tokens, and the sampler. One parser, so both spell them the same.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "aprc/sampler.h"
#include "aprc/tokenizer.h"
#include "args.h"

namespace aprc::cli {

struct RunOptions {
  std::string prompt;              // --prompt TEXT
  std::vector<int32_t> ids;        // --ids 1,2,3 (instead of a prompt)
  bool chat = false;               // --chat: wrap the prompt in the model's chat template
  std::string system;              // --system TEXT (with --chat)
  int64_t max_new_tokens = 128;    // -n N (-1: until a stop token)
  SamplerConfig sampler;           // --temperature --top-k --top-p --min-p --repeat-penalty --seed
  bool stats = false;              // --stats: speeds to stderr
};

// The flags RunOptions reads, for cli::Args.
std::set<std::string> run_value_flags();
std::set<std::string> run_bool_flags();
// Their help text, one line each.
const char* run_options_help();

RunOptions parse_run_options(const Args& args);

// The prompt's token ids: --ids as given, or --prompt encoded (through the chat template with
// --chat). Error(BadInput) when there is neither, or both.
std::vector<int32_t> prompt_ids(const RunOptions& options, const Tokenizer& tokenizer);

}  // namespace aprc::cli
