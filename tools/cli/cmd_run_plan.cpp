// aprc run PLAN: generate text with a compiled plan, streamed as it comes.
#include <cstdio>

#include "aprc/error.h"
#include "aprc/generate.h"
#include "aprc/runtime.h"
#include "aprc/tokenizer.h"
#include "interrupt.h"
#include "plan_commands.h"
#include "run_options.h"

namespace aprc::cli {
namespace {

// Opens the plan and its engine, saying so when that takes a while (a synthetic plan's weights).
std::unique_ptr<Session> open_session(const std::string& path, const Args& args) {
  auto plan = Plan::open(path);
  if (plan->synthetic()) {
    std::fprintf(stderr, "aprc: %s is a synthetic model (benchmarks only: its text means nothing); generating %.1f GB of weights\n",
                 path.c_str(), static_cast<double>(plan->weights_size()) / 1e9);
    plan->weights();
  }
  const std::string engine = args.value_or("engine", default_engine(*plan));
  return std::make_unique<Session>(plan, open_engine(plan, engine, parse_engine_options(args)));
}

}  // namespace

int cmd_run_plan(int argc, char** argv) {
  std::set<std::string> values = run_value_flags(), flags = run_bool_flags();
  for (const auto& f : engine_value_flags()) values.insert(f);
  Args args("run", argc, argv, values, flags);
  if (args.flag("help")) {
    std::printf("usage: aprc run PLAN (--prompt TEXT | --ids 1,2,3) [options]\n"
                "Generates text with a compiled plan, printing it as it comes; Ctrl-C stops.\n%s%s",
                run_options_help(), engine_options_help());
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string path = plan_path_argument(args, "run");
  const RunOptions options = parse_run_options(args);
  auto session = open_session(path, args);
  const TokenizerData& data = session->plan().manifest().tokenizer;
  if (data.empty()) throw_bad_input(path + ": the plan carries no tokenizer");
  Tokenizer tokenizer(data, path);
  const std::vector<int32_t> prompt = prompt_ids(options, tokenizer);

  GenerateOptions generate_options;
  generate_options.max_new_tokens = options.max_new_tokens;
  generate_options.sampler = options.sampler;
  generate_options.interrupted = &catch_interrupt();
  GenerateResult result = generate(*session, tokenizer, prompt, generate_options, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);

  if (options.stats) {
    const double decoded = static_cast<double>(result.tokens.size());
    std::fprintf(stderr, "aprc: prompt %lld tokens in %.3f s (%.1f tok/s); generated %zu tokens in %.3f s (%.1f tok/s) on %s\n",
                 static_cast<long long>(result.prompt_tokens), result.prefill_seconds,
                 static_cast<double>(result.prompt_tokens) / result.prefill_seconds, result.tokens.size(),
                 result.decode_seconds, result.decode_seconds > 0 ? decoded / result.decode_seconds : 0.0,
                 session->engine().device().c_str());
  }
  switch (result.stop) {
    case GenerateStop::Interrupted:
      std::fprintf(stderr, "aprc: interrupted after %zu tokens\n", result.tokens.size());
      return 130;
    case GenerateStop::ContextFull:
      throw_bad_input(path + ": the context is full (" + std::to_string(session->context()) + " positions) after " +
                      std::to_string(result.tokens.size()) + " generated tokens; --context sets it, up to the plan's " +
                      std::to_string(session->plan().manifest().kv_cache.max_context));
    default:
      return 0;
  }
}

}  // namespace aprc::cli
