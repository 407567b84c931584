// aprc logits PLAN (--ids | --prompt) -o OUT.f32: the logits of every prompt position, computed
// by a compiled plan, as float32 little-endian [T][vocab].
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "aprc/error.h"
#include "aprc/runtime.h"
#include "aprc/tokenizer.h"
#include "plan_commands.h"
#include "run_options.h"

namespace aprc::cli {

int cmd_logits_plan(int argc, char** argv) {
  std::set<std::string> values = {"ids", "prompt", "o"};
  for (const auto& f : engine_value_flags()) values.insert(f);
  Args args("logits", argc, argv, values, {"help"});
  if (args.flag("help")) {
    std::printf("usage: aprc logits PLAN (--ids 1,2,3 | --prompt TEXT) -o OUT.f32 [options]\n"
                "Writes the logits of every position as float32 little-endian, [T][vocab].\n%s",
                engine_options_help());
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string path = plan_path_argument(args, "logits");
  const auto out_path = args.value("o");
  if (!out_path) throw_bad_input("aprc logits: missing -o OUT.f32");
  RunOptions options;
  options.prompt = args.value_or("prompt", "");
  if (args.value("prompt").has_value() == args.value("ids").has_value())
    throw_bad_input("aprc logits: give --ids 1,2,3 or --prompt TEXT (one of them)");
  if (auto ids = args.value("ids"))
    for (int64_t id : parse_id_list(*ids, "--ids")) {
      if (id > INT32_MAX) throw_bad_input("--ids: token id " + std::to_string(id) + " is too large");
      options.ids.push_back(static_cast<int32_t>(id));
    }

  auto plan = Plan::open(path);
  const std::string engine = args.value_or("engine", default_engine(*plan));
  Session session(plan, open_engine(plan, engine, parse_engine_options(args)));
  std::vector<int32_t> ids = options.ids;
  if (ids.empty()) {
    if (plan->manifest().tokenizer.empty()) throw_bad_input(path + ": the plan carries no tokenizer; use --ids");
    ids = prompt_ids(options, Tokenizer(plan->manifest().tokenizer, path));
  }
  const std::vector<float> logits = session.prefill_all(ids);

  std::FILE* f = std::fopen(out_path->c_str(), "wb");
  if (!f) throw_bad_input(*out_path + ": cannot create: " + std::strerror(errno));
  const size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  if (std::fclose(f) != 0 || written != logits.size()) throw_bad_input(*out_path + ": cannot write: " + std::strerror(errno));
  std::printf("T=%zu vocab=%lld -> %s (float32 [T][vocab], %s engine)\n", ids.size(),
              static_cast<long long>(session.vocab_size()), out_path->c_str(), engine.c_str());
  return 0;
}

}  // namespace aprc::cli
