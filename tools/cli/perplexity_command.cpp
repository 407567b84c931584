#include "perplexity_command.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "aprc/error.h"
#include "aprc/runtime.h"
#include "console_progress.h"
#include "plan_commands.h"

namespace aprc::cli {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_bad_input(path + ": cannot open the text file");
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) throw_bad_input(path + ": cannot read the text file");
  return s.str();
}

}  // namespace

std::set<std::string> perplexity_value_flags() {
  std::set<std::string> v = engine_value_flags();
  v.insert({"window", "stride"});
  return v;
}

std::set<std::string> perplexity_bool_flags() { return {"json", "quiet", "help"}; }

const char* perplexity_help() {
  return "usage: aprc perplexity MODEL|PLAN FILE [--engine reference|cpu|cuda] [--window W] [--stride S] [--json]\n"
         "The perplexity of FILE's text (tokenized without BOS or template) under the model: windows of W\n"
         "tokens (default 512) every S tokens (default 256), each run as a fresh sequence; each token is\n"
         "scored once, in the first window that ends past it (aprc/perplexity.h has the algorithm).\n"
         "  --engine reference  the reference interpreter on a model file (the default for model files)\n"
         "  --engine cpu|cuda   a plan's engine (a model file is compiled into a temporary plan first)\n"
         "  --json              {\"file\",\"tokens\",\"scored\",\"window\",\"stride\",\"nll_mean\",\"perplexity\",\"engine\",\"seconds\"}\n"
         "  --quiet             no progress on stderr\n"
         "  --threads N, --context N  as for aprc run on plans\n";
}

int perplexity_report(const Args& args, const Tokenizer& tokenizer, int64_t vocab, const std::string& engine,
                      const WindowLogits& window_logits) {
  const std::string& file = args.positional(1, "FILE");
  PerplexityOptions options;
  options.window = args.int_or("window", options.window);
  options.stride = args.int_or("stride", options.stride);
  const std::vector<int32_t> ids = tokenizer.encode(read_text(file));
  ConsoleProgress progress(args.flag("quiet"));
  const auto start = std::chrono::steady_clock::now();
  const PerplexityResult r = sliding_window_perplexity(ids, vocab, options, window_logits, &progress);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (args.flag("json")) {
    std::printf("%s\n", nlohmann::json{{"file", file},
                                       {"tokens", r.tokens},
                                       {"scored", r.scored},
                                       {"window", options.window},
                                       {"stride", options.stride},
                                       {"nll_mean", r.nll_mean()},
                                       {"perplexity", r.perplexity()},
                                       {"engine", engine},
                                       {"seconds", seconds}}
                            .dump()
                            .c_str());
  } else {
    std::printf("%s: perplexity %.4f (mean NLL %.6f over %lld of %lld tokens; window %lld, stride %lld, %lld windows; %s engine, %.2f s)\n",
                file.c_str(), r.perplexity(), r.nll_mean(), static_cast<long long>(r.scored),
                static_cast<long long>(r.tokens), static_cast<long long>(options.window),
                static_cast<long long>(options.stride), static_cast<long long>(r.windows), engine.c_str(), seconds);
  }
  return 0;
}

int perplexity_on_plan(const Args& args, const std::string& path) {
  auto plan = Plan::open(path);
  if (plan->manifest().tokenizer.empty()) throw_bad_input(path + ": the plan carries no tokenizer");
  const std::string engine = args.value_or("engine", default_engine(*plan));
  Session session(plan, open_engine(plan, engine, parse_engine_options(args)));
  const Tokenizer tokenizer(plan->manifest().tokenizer, path);
  return perplexity_report(args, tokenizer, session.vocab_size(), engine, [&](std::span<const int32_t> window) {
    session.reset();
    return session.prefill_all(window);
  });
}

int cmd_perplexity_plan(int argc, char** argv) {
  Args args("perplexity", argc, argv, perplexity_value_flags(), perplexity_bool_flags());
  if (args.flag("help")) {
    std::fputs(perplexity_help(), stdout);
    return 0;
  }
  args.expect_positionals(2, 2);
  return perplexity_on_plan(args, plan_path_argument(args, "perplexity"));
}

}  // namespace aprc::cli
