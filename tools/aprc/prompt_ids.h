// The tokens a command runs: `--ids 1,2,3` (checked against the vocabulary) or `--prompt TEXT`
// (the model's tokenizer, special tokens recognized). Exactly one of the two; errors are BadInput.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../cli/args.h"
#include "aprc/model.h"

namespace aprc {

std::vector<int32_t> prompt_ids(const cli::Args& args, const Model& model, const std::string& command);

}  // namespace aprc
