// aprc verify PLAN|MODEL: the same tokens through the reference interpreter and each compiled
// backend, every op's output compared as it is computed (verify/: docs/design.md, "aprc verify");
// a table per layer, the first op over tolerance, exit 1 on a failure and 0 with a one-line verdict.
// A model file is compiled first, into a temporary plan for the engines asked for. --report: the
// accuracy report of the stored and fp8 weights (cmd_verify_report.cpp).
#include <cstdio>
#include <iterator>
#include <optional>
#include <random>
#include <set>

#include "../cli/args.h"
#include "../cli/temp_path.h"
#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/model.h"
#include "aprc/plan.h"
#include "aprc/tokenizer.h"
#include "aprc/verify/plan_verify.h"
#include "aprc/verify/report.h"
#include "aprc/verify/value_dump.h"
#include "commands.h"
#include "fp8_options.h"

namespace aprc {
namespace {

constexpr const char* kUsage =
    "usage: aprc verify PLAN|MODEL [--prompt TEXT | --ids 1,2,3] [--engines reference,cpu,cuda] [--tolerance X]\n"
    "                   [--decode N] [--model FILE] [--json] [--quiet]\n"
    "       aprc verify MODEL --report (--prompt TEXT | --ids 1,2,3) [--fp8-ops GROUPS] [--fp8-scales S]\n"
    "                   [--fp8-activations per-token] [--json] [--no-plans] [--threads N]\n"
    "Runs the same tokens through the reference interpreter and each compiled engine and compares every\n"
    "op's output: a table per layer (max abs error, max error relative to the tensor's largest magnitude,\n"
    "cosine similarity, the worst of each over the prefill and decode calls), then the first op over\n"
    "tolerance (exit 1) or a one-line verdict (exit 0). Exit 2 when nothing could be verified.\n"
    "  --prompt TEXT      the prompt, tokenized by the plan's tokenizer (default: a fixed English sentence,\n"
    "                     or 12 seeded random ids for a plan without a tokenizer)\n"
    "  --ids 1,2,3        the prompt as token ids\n"
    "  --engines LIST     the engines to check against the reference (cpu, cuda; `reference` is always the\n"
    "                     baseline); default: every target of the plan; a model file is compiled for these\n"
    "                     (default cpu)\n"
    "  --tolerance X      on max |error| / max |reference value| of each op (default 1e-3; 1e-2 for a plan with\n"
    "                     per-token fp8 activations, 5e-2 with int8 activations: their rounding's noise)\n"
    "  --decode N         decode steps after the prompt, each fed the reference's greedy token (default 4)\n"
    "  --model FILE       the reference's weights from this model file instead of the plan\n"
    "  --recorded F[,F]   runs recorded by `aprc record PLAN` (aprc-rt, e.g. on a GPU host), compared too; their\n"
    "                     prompt and decode tokens are used; without --engines no engine runs here\n"
    "  --max-tokens N     a model file's plan: the most tokens of one prefill call (default 512)\n"
    "  --threads N        CPU engine threads (default: one per core)\n"
    "  --json             the whole report as JSON on stdout\n"
    "  --quiet            no progress on stderr\n"
    "--report: the logits of the prompt with the weights as stored and cast to fp8 e4m3, against the\n"
    "f32-dequantized weights (reference interpreter): per position, max |logit - reference| / max\n"
    "|reference logit|, and top-1 agreement; each computed by the interpreter and by a plan compiled\n"
    "for the CPU (aprc compile --target cpu [--weights fp8 ...], in a temporary directory).\n"
    "  --fp8-ops GROUPS   which linear weights are cast: attn_qkv, attn_proj, mlp, logits; layers (the\n"
    "                     default: all but logits) or all\n"
    "  --fp8-scales S     per-channel (one scale per output row, the default) or per-tensor\n"
    "  --fp8-activations per-token  prefill activations quantized per token too (two e4m3 terms a value)\n"
    "  --no-plans         the interpreter's rows only (no compile)\n";

constexpr const char* kDefaultPrompt = "The quick brown fox jumps over the lazy dog. Then, at the river, it";

std::vector<std::string> parse_engines(const std::string& text) {
  std::vector<std::string> engines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string e = text.substr(start, comma - start);
    if (e == "cpu" || e == "cuda") {
      if (std::find(engines.begin(), engines.end(), e) == engines.end()) engines.push_back(e);
    } else if (e != "reference") {
      throw_bad_input("aprc verify: --engines: unknown engine '" + e + "' (engines: reference, cpu, cuda)");
    }
    start = comma + 1;
  }
  return engines;
}

std::vector<int32_t> plan_prompt_ids(const cli::Args& args, const Plan& plan, const std::string& path) {
  const PlanManifest& m = plan.manifest();
  if (args.value("prompt") && args.value("ids")) throw_bad_input("aprc verify: give --prompt or --ids, not both");
  std::vector<int32_t> ids;
  if (auto text = args.value("ids")) {
    for (int64_t id : cli::parse_id_list(*text, "--ids")) {
      if (id >= m.config.vocab_size)
        throw_bad_input("--ids: token id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(m.config.vocab_size) + " tokens");
      ids.push_back(static_cast<int32_t>(id));
    }
  } else if (m.tokenizer.empty()) {
    if (args.value("prompt")) throw_bad_input(path + ": the plan carries no tokenizer; use --ids");
    std::mt19937 rng(7);
    for (int i = 0; i < 12; ++i) ids.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(m.config.vocab_size)));
  } else {
    ids = Tokenizer(m.tokenizer, path).encode(args.value_or("prompt", kDefaultPrompt));
  }
  if (ids.empty()) throw_bad_input("aprc verify: the prompt gives no tokens");
  return ids;
}

}  // namespace

int cmd_verify(int argc, char** argv) {
  std::set<std::string> values{"prompt", "ids", "engines", "tolerance", "decode", "model", "max-tokens", "threads",
                                "recorded"};
  values.insert(std::begin(kFp8Flags), std::end(kFp8Flags));
  cli::Args args("verify", argc, argv, values, {"report", "json", "quiet", "help", "no-plans"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.flag("report")) return verify_report(args);
  if (args.flag("no-plans")) throw_bad_input("aprc verify: --no-plans goes with --report");
  for (const char* flag : kFp8Flags)
    if (args.value(flag)) throw_bad_input(std::string("aprc verify: --") + flag + " goes with --report");
  args.expect_positionals(1, 1);
  const std::string input = args.positional(0, "PLAN|MODEL");
  const bool quiet = args.flag("quiet");
  auto progress = [quiet](std::string_view what) {
    if (!quiet) std::fprintf(stderr, "aprc verify: %.*s\n", static_cast<int>(what.size()), what.data());
  };

  verify::PlanVerifyOptions options;
  if (auto e = args.value("engines")) options.engines = parse_engines(*e);
  options.verify.tolerance = args.double_or("tolerance", options.verify.tolerance);
  if (!(options.verify.tolerance >= 0)) throw_bad_input("aprc verify: --tolerance must be a number >= 0");
  options.verify.decode_steps = static_cast<int>(args.int_or("decode", options.verify.decode_steps));
  if (options.verify.decode_steps < 0 || options.verify.decode_steps > 4096)
    throw_bad_input("aprc verify: --decode expects a number of steps");
  options.engine.threads = static_cast<int>(args.int_or("threads", 0));
  if (options.engine.threads < 0 || options.engine.threads > 4096) throw_bad_input("--threads expects a count of threads");
  options.model_path = args.value_or("model", "");
  if (auto recorded = args.value("recorded")) {
    size_t start = 0;
    while (start <= recorded->size()) {
      const size_t comma = std::min(recorded->find(',', start), recorded->size());
      options.recorded.push_back(recorded->substr(start, comma - start));
      start = comma + 1;
    }
  }
  options.open = [](std::shared_ptr<const Plan> plan, std::string_view kind, const EngineOptions& o) {
    return open_engine(std::move(plan), kind, o);
  };

  // A model file: compiled for the engines asked for, and the reference reads the model file.
  std::optional<cli::TempPath> temporary;
  std::string plan_path = input;
  if (!is_plan_file(input)) {
    const Model model = load_model(input);
    codegen::CompileOptions compile;
    compile.targets.clear();
    if (options.engines.empty()) options.engines = {"cpu"};
    for (const std::string& e : options.engines)
      compile.targets.push_back(codegen::CompileTarget{e == "cpu" ? Backend::Cpu : Backend::Cuda, {}});
    compile.max_tokens = args.int_or("max-tokens", compile.max_tokens);
    temporary.emplace("aprc-verify", ".plan");
    plan_path = temporary->str();
    progress("compiling " + input + " for " + args.value_or("engines", "cpu"));
    codegen::compile_plan(model, plan_path, compile);
    if (options.model_path.empty()) options.model_path = input;
  } else if (args.value("max-tokens")) {
    throw_bad_input("aprc verify: --max-tokens applies to a model file (a plan has its own)");
  }

  const auto plan = Plan::open(plan_path);
  if (!args.value("tolerance")) {
    options.verify.tolerance = verify::default_tolerance(plan->manifest());
    if (options.verify.tolerance != verify::VerifyOptions{}.tolerance) {
      char t[16];
      std::snprintf(t, sizeof t, "%.0e", options.verify.tolerance);
      progress(std::string("note: the plan's kernels round activations (fp8 per token or int8), so the default tolerance is ") + t);
    }
  }
  if (plan->manifest().options.contains("inject_fault"))
    progress("note: the plan was compiled with --inject-fault " + plan->manifest().options["inject_fault"].dump());
  // A recorded run brings its prompt.
  const std::vector<int32_t> ids = options.recorded.empty() || args.value("ids") || args.value("prompt")
                                       ? plan_prompt_ids(args, *plan, input)
                                       : verify::read_value_dump(options.recorded[0]).prompt;
  const verify::Verification v = verify::verify_plan(plan_path, ids, options, progress);
  if (args.flag("json"))
    std::printf("%s\n", verify::report_json(v).dump(2).c_str());
  else
    verify::print_report(stdout, v);
  if (v.engines_run() == 0) {
    std::fprintf(stderr, "aprc verify: %s: nothing verified (no engine could run here)\n", input.c_str());
    return 2;
  }
  return v.passed() ? 0 : 1;
}

}  // namespace aprc
