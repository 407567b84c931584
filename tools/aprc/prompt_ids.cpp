#include "prompt_ids.h"

#include "aprc/error.h"
#include "aprc/tokenizer.h"

namespace aprc {

std::vector<int32_t> prompt_ids(const cli::Args& args, const Model& model, const std::string& command) {
  if (args.value("ids").has_value() == args.value("prompt").has_value())
    throw_bad_input("aprc " + command + ": give exactly one of --ids and --prompt");
  std::vector<int32_t> ids;
  if (auto text = args.value("ids")) {
    for (int64_t id : cli::parse_id_list(*text, "--ids")) {
      if (id >= model.config.vocab_size)
        throw_bad_input("--ids: token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                        std::to_string(model.config.vocab_size) + " tokens");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  if (model.tokenizer.empty()) throw_bad_input(model.path + ": the model carries no tokenizer (use --ids)");
  ids = Tokenizer(model.tokenizer, model.path).encode(*args.value("prompt"), true);
  if (ids.empty()) throw_bad_input("aprc " + command + ": --prompt gives no tokens");
  return ids;
}

}  // namespace aprc
