// aprc-rt's tokenizers: a plan's (model files need aprc).
#include "aprc/error.h"
#include "aprc/plan.h"
#include "tokenizer_source.h"

namespace aprc {

Tokenizer load_command_tokenizer(const std::string& path) {
  if (!is_plan_file(path)) {
    Plan::open(path);  // names what is wrong with the file
    throw_bad_input(path + ": not a plan (aprc-rt reads plans; aprc reads model files)");
  }
  auto plan = Plan::open(path);
  const TokenizerData& data = plan->manifest().tokenizer;
  if (data.empty()) throw_bad_input(path + ": the plan carries no tokenizer");
  return Tokenizer(data, path);
}

}  // namespace aprc
