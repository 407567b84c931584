// aprc record PLAN (--ids 1,2,3 | --prompt TEXT) [--engine cpu|cuda] [--decode N] -o FILE: every value
// the plan's steps name, and the logits, for the prompt and N decode steps on one engine, written
// for `aprc verify PLAN --recorded FILE` on a machine with the compiler (verify/value_dump.h). In
// aprc-rt too, so that a GPU host without the compiler can record.
#include <cstdio>

#include "aprc/error.h"
#include "aprc/runtime.h"
#include "aprc/tokenizer.h"
#include "aprc/verify/value_dump.h"
#include "plan_commands.h"
#include "run_options.h"

namespace aprc::cli {

int cmd_record(int argc, char** argv) {
  std::set<std::string> values = {"ids", "prompt", "o", "decode"};
  for (const auto& f : engine_value_flags()) values.insert(f);
  Args args("record", argc, argv, values, {"quiet", "help"});
  if (args.flag("help")) {
    std::printf("usage: aprc record PLAN (--ids 1,2,3 | --prompt TEXT) -o FILE [--decode 4] [--quiet] [options]\n"
                "Runs the prompt (in the plan's prefill chunks) and --decode steps, each fed the engine's own\n"
                "greedy token, and writes every value the steps name and the logits of each call to FILE, for\n"
                "`aprc verify PLAN --recorded FILE` where the compiler is.\n%s",
                engine_options_help());
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string path = plan_path_argument(args, "record");
  const auto out = args.value("o");
  if (!out) throw_bad_input("aprc record: missing -o FILE");
  if (args.value("prompt").has_value() == args.value("ids").has_value())
    throw_bad_input("aprc record: give --ids 1,2,3 or --prompt TEXT (one of them)");
  const int64_t decode = args.int_or("decode", 4);
  if (decode < 0 || decode > 4096) throw_bad_input("aprc record: --decode expects a number of steps");

  auto plan = Plan::open(path);
  const PlanManifest& m = plan->manifest();
  std::vector<int32_t> ids;
  if (auto text = args.value("ids")) {
    for (int64_t id : parse_id_list(*text, "--ids")) {
      if (id >= m.config.vocab_size)
        throw_bad_input("--ids: token id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(m.config.vocab_size) + " tokens");
      ids.push_back(static_cast<int32_t>(id));
    }
  } else {
    if (m.tokenizer.empty()) throw_bad_input(path + ": the plan carries no tokenizer; use --ids");
    RunOptions options;
    options.prompt = *args.value("prompt");
    ids = prompt_ids(options, Tokenizer(m.tokenizer, path));
  }
  const std::string kind = args.value_or("engine", default_engine(*plan));
  const PlanTarget* target = plan->target(kind);
  if (!target) throw_bad_input(path + ": the plan has no " + kind + " target");
  EngineOptions engine_options = parse_engine_options(args);
  if (engine_options.context == 0)
    engine_options.context = std::min(m.kv_cache.max_context, static_cast<int64_t>(ids.size()) + decode);
  auto engine = open_engine(plan, kind, engine_options);
  const bool quiet = args.flag("quiet");
  const verify::ValueDump dump = verify::record_run(*engine, *plan, *target, ids, static_cast<int>(decode), [&](std::string_view what) {
    if (!quiet) std::fprintf(stderr, "aprc record: %.*s\n", static_cast<int>(what.size()), what.data());
  });
  verify::write_value_dump(dump, *out);
  size_t recorded = 0;
  for (const verify::DumpedCall& c : dump.calls) recorded += c.values.size();
  std::printf("%s: %zu calls (%zu prompt tokens, %lld decode steps), %zu values, %s engine on %s\n", out->c_str(),
              dump.calls.size(), ids.size(), static_cast<long long>(decode), recorded, dump.engine.c_str(),
              dump.device.c_str());
  return 0;
}

}  // namespace aprc::cli
