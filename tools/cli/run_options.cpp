#include "run_options.h"

#include "aprc/error.h"

namespace aprc::cli {

std::set<std::string> run_value_flags() {
  return {"prompt", "ids", "system", "n", "temperature", "top-k", "top-p", "min-p", "repeat-penalty", "seed"};
}

std::set<std::string> run_bool_flags() { return {"chat", "stats", "help"}; }

const char* run_options_help() {
  return "  --prompt TEXT          the prompt (or --ids 1,2,3: token ids)\n"
         "  --chat                 wrap the prompt in the model's chat template (ChatML)\n"
         "  --system TEXT          the system message with --chat (default: the template's)\n"
         "  -n N                   tokens to generate (default 128; -1: until a stop token)\n"
         "  --temperature T        0 is greedy (default 0.8)\n"
         "  --top-k K --top-p P --min-p P --repeat-penalty R --seed S   sampling (llama.cpp's defaults)\n"
         "  --stats                print prompt and generation speed to stderr\n";
}

RunOptions parse_run_options(const Args& args) {
  RunOptions o;
  o.prompt = args.value_or("prompt", "");
  if (auto ids = args.value("ids"))
    for (int64_t id : parse_id_list(*ids, "--ids")) {
      if (id > INT32_MAX) throw_bad_input("--ids: token id " + std::to_string(id) + " is too large");
      o.ids.push_back(static_cast<int32_t>(id));
    }
  if (args.value("prompt") && args.value("ids")) throw_bad_input("give --prompt or --ids, not both");
  if (!args.value("prompt") && !args.value("ids")) throw_bad_input("missing --prompt TEXT (or --ids 1,2,3)");
  o.chat = args.flag("chat");
  o.system = args.value_or("system", "");
  if (args.value("system") && !o.chat) throw_bad_input("--system needs --chat");
  if (o.chat && args.value("ids")) throw_bad_input("--chat needs --prompt, not --ids");
  o.max_new_tokens = args.int_or("n", 128);
  if (o.max_new_tokens < -1) throw_bad_input("-n expects a count, or -1 for no limit");
  o.sampler.temperature = static_cast<float>(args.double_or("temperature", o.sampler.temperature));
  o.sampler.top_k = static_cast<int32_t>(args.int_or("top-k", o.sampler.top_k));
  o.sampler.top_p = static_cast<float>(args.double_or("top-p", o.sampler.top_p));
  o.sampler.min_p = static_cast<float>(args.double_or("min-p", o.sampler.min_p));
  o.sampler.repeat_penalty = static_cast<float>(args.double_or("repeat-penalty", o.sampler.repeat_penalty));
  o.sampler.seed = static_cast<uint64_t>(args.int_or("seed", 0));
  o.stats = args.flag("stats");
  Sampler check(o.sampler);  // refuses settings out of range now, before any work
  return o;
}

std::vector<int32_t> prompt_ids(const RunOptions& o, const Tokenizer& tokenizer) {
  if (!o.ids.empty()) return o.ids;
  if (!o.chat) return tokenizer.encode(o.prompt, true);
  ChatTemplate chat(tokenizer.data());
  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  messages.push_back({"user", o.prompt});
  return tokenizer.encode(chat.apply(messages), true);
}

}  // namespace aprc::cli
