// aprc demo: what the compiler does, shown on the built-in model (models/qwen2.5-stdlib-tiny, a
// small Qwen2.5-architecture model trained on Python's standard library; see README) or any model
// file: the model, its IR's ops before and after each pass, the kernels and plan compiled for this
// CPU and the time of each stage, then greedy text from the plan, streamed, with its speed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "../cli/args.h"
#include "../cli/console_progress.h"
#include "../cli/temp_path.h"
#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/generate.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "aprc/runtime.h"
#include "aprc/synthetic_model.h"
#include "aprc/tokenizer.h"
#include "aprc/tokenizer_json.h"
#include "commands.h"

#ifndef APRC_SOURCE_DIR
#define APRC_SOURCE_DIR "."
#endif

namespace aprc {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultModel = "models/qwen2.5-stdlib-tiny.q4_k_m.gguf";
constexpr const char* kTokenizer = "third_party/qwen-tokenizer/tokenizer.json";

constexpr const char* kUsage =
    "usage: aprc demo [--model PATH] [--prompt TEXT] [-n N] [--repeat-penalty R] [--threads N]\n"
    "Shows what the compiler does with a model (its IR before and after each pass, the kernels and the\n"
    "plan it generates for this CPU, the time of each stage), then generates text from the compiled plan.\n"
    "  --model PATH   a .gguf, .apr or Hugging Face folder (default: the built-in\n"
    "                 models/qwen2.5-stdlib-tiny.q4_k_m.gguf; a synthetic model when that is missing)\n"
    "  --prompt TEXT  default \"def fibonacci(n):\"; greedy decoding\n"
    "  -n N           tokens to generate (default 80)\n"
    "  --repeat-penalty R  llama.cpp's repetition penalty on the greedy choice (default 1.2: a small\n"
    "                 model decoded by plain greedy (1) soon repeats one token forever)\n";

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A file of the source tree, found from the build's source folder or from the executable
// (build/tools/aprc -> ../../).
std::string find_in_tree(const std::string& relative) {
  std::vector<fs::path> roots = {APRC_SOURCE_DIR};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) roots.push_back(exe.parent_path() / ".." / "..");
  for (const fs::path& root : roots)
    if (fs::exists(root / relative, ec)) return (root / relative).lexically_normal().string();
  return {};
}

// The ops of function `fn` in printed IR, by name, in order of first appearance.
std::vector<std::pair<std::string, int>> op_counts(const std::string& ir, const std::string& fn) {
  static const std::regex kOp(R"(^\s*(?:%[^=]*=\s*)?aprc\.([a-z_0-9]+))");
  std::vector<std::pair<std::string, int>> counts;
  std::istringstream lines(ir);
  std::string line;
  bool inside = false;
  while (std::getline(lines, line)) {
    if (line.find("func.func @") != std::string::npos) inside = line.find("func.func @" + fn + "(") != std::string::npos;
    std::smatch m;
    if (!inside || !std::regex_search(line, m, kOp) || m[1] == "weight_ref") continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == m[1]; });
    if (it == counts.end()) counts.emplace_back(m[1], 1);
    else ++it->second;
  }
  return counts;
}

std::string describe(const std::vector<std::pair<std::string, int>>& counts) {
  int total = 0;
  std::string parts;
  for (const auto& [op, n] : counts) {
    total += n;
    parts += (parts.empty() ? "" : ", ") + op + " " + std::to_string(n);
  }
  return std::to_string(total) + " ops: " + parts;
}

void print_model(const Model& m, const std::string& origin) {
  const ModelConfig& c = m.config;
  int64_t params = 0;
  uint64_t bytes = 0;
  std::map<std::string, int> types;
  for (const auto& [name, t] : m.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
    bytes += t.bytes.size();
    ++types[dtype_name(t.dtype)];
  }
  std::string type_list;
  for (const auto& [t, n] : types) type_list += (type_list.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  std::printf("model    %s\n", origin.c_str());
  std::printf("         %s: %lld layers, hidden %lld, %lld heads (%lld kv, head_dim %lld), ffn %lld, vocab %lld%s\n",
              c.architecture.c_str(), static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads), static_cast<long long>(c.head_dim),
              static_cast<long long>(c.intermediate_size), static_cast<long long>(c.vocab_size),
              c.tied_embeddings ? ", tied embeddings" : "");
  std::printf("         %.1fM parameters in %zu tensors (%s), %.1f MB\n", params / 1e6, m.tensors.size(), type_list.c_str(),
              bytes / 1e6);
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  cli::Args args("demo", argc, argv, {"model", "prompt", "n", "threads", "repeat-penalty"}, {"help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positionals(0, 0);
  const auto start = Clock::now();

  // The model: --model, the built-in one, or a synthetic one with the real tokenizer.
  Model model;
  std::string origin;
  auto t0 = Clock::now();
  if (auto path = args.value("model")) {
    model = load_model(*path);
    origin = *path + " (" + model.format + ")";
  } else if (const std::string builtin = find_in_tree(kDefaultModel); !builtin.empty()) {
    model = load_model(builtin);
    origin = builtin + " (trained on Python's standard library; see README)";
  } else {
    const std::string tokenizer = find_in_tree(kTokenizer);
    if (tokenizer.empty())
      throw_bad_input(std::string("aprc demo: neither ") + kDefaultModel + " nor " + kTokenizer +
                      " was found; run scripts/fetch-tokenizer.sh, or pass --model PATH");
    std::printf("aprc demo: %s is missing: using a synthetic model (random weights: its text means nothing)\n",
                kDefaultModel);
    model = synthetic_model("tiny", kDefaultSyntheticSeed, load_tokenizer_json(tokenizer));
    origin = "synthetic 'tiny' preset, seed " + std::to_string(kDefaultSyntheticSeed) + ", tokenizer " + tokenizer;
  }
  if (model.tokenizer.empty()) throw_bad_input(model.path + ": the model carries no tokenizer");
  print_model(model, origin);
  std::printf("         loaded in %.2f s\n\n", since(t0));

  // The IR, and what each pass makes of it (the passes aprc-lower-cpu runs, one at a time).
  t0 = Clock::now();
  ir::Module module = ir::build_module(model);
  std::string ir = module.print(false);
  std::printf("IR       @decode: %s  (built in %.2f s; `aprc compile MODEL --emit ir` prints it)\n",
              describe(op_counts(ir, "decode")).c_str(), since(t0));
  const int64_t max_tokens = 512;
  const std::vector<std::string> pipeline = {
      "aprc-fuse-gate-up-swiglu",       "aprc-fuse-shared-input-linears", "aprc-fold-norm-into-linear",
      "aprc-fold-residual-into-linear", "aprc-fuse-rope-kv-append",       "aprc-repack-weights{target=cpu}",
      "aprc-plan-memory{max-tokens=" + std::to_string(max_tokens) + "}"};
  for (const std::string& pass : pipeline) {
    t0 = Clock::now();
    // Every pass but the repacking one runs on functions.
    passes::run_pipeline(module, pass.rfind("aprc-repack", 0) == 0 ? pass : "func.func(" + pass + ")");
    const std::string after = module.print(false);
    std::printf("pass     %-32s %s%s\n", pass.c_str(),
                after == ir ? "no change" : describe(op_counts(after, "decode")).c_str(),
                pass.rfind("aprc-repack", 0) == 0 ? "  (weights in cpu_r16 tiles)" : "");
    ir = after;
  }

  // The plan: the same lowering, schedules, kernels generated for this CPU, weights repacked.
  const cli::TempPath temp_plan("aprc-demo", ".plan");
  const fs::path plan_path = temp_plan.str();
  codegen::CompileOptions options;
  options.max_tokens = max_tokens;
  std::printf("\ncompile  %s -> %s (target cpu)\n", model.path.c_str(), plan_path.c_str());
  std::fflush(stdout);
  cli::ConsoleProgress progress;
  t0 = Clock::now();
  const codegen::CompileSummary summary = codegen::compile_plan(model, plan_path.string(), options, &progress);
  const double compile_seconds = since(t0);
  std::string stages;
  for (const auto& [stage, s] : summary.seconds) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.2fs", stages.empty() ? "" : ", ", stage.c_str(), s);
    stages += buf;
  }
  size_t kernels = 0;
  for (const auto& [target, n] : summary.kernels) kernels += n;
  std::printf("         %zu kernels generated (MLIR vector -> LLVM -> shared object), %zu weights (%.1f MB), plan %.1f MB\n",
              kernels, summary.weights, summary.weight_bytes / 1e6, fs::file_size(plan_path) / 1e6);
  std::printf("         stages: %s (%.2f s in all)\n\n", stages.c_str(), compile_seconds);

  // Text from the plan.
  EngineOptions engine_options;
  engine_options.threads = static_cast<int>(args.int_or("threads", 0));
  engine_options.context = 2048;
  auto plan = Plan::open(plan_path.string());
  Session session(plan, open_engine(plan, "cpu", engine_options));
  const Tokenizer tokenizer(plan->manifest().tokenizer, plan_path.string());
  const std::string prompt = args.value_or("prompt", "def fibonacci(n):");
  GenerateOptions generate_options;
  generate_options.max_new_tokens = args.int_or("n", 80);
  generate_options.sampler.temperature = 0;  // greedy
  generate_options.sampler.repeat_penalty = static_cast<float>(args.double_or("repeat-penalty", 1.2));
  std::printf("run      greedy (repeat penalty %g), %lld tokens, on %s\n---\n%s",
              generate_options.sampler.repeat_penalty, static_cast<long long>(generate_options.max_new_tokens),
              session.engine().device().c_str(), prompt.c_str());
  std::fflush(stdout);
  const GenerateResult r = generate(session, tokenizer, tokenizer.encode(prompt, false), generate_options, [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  });
  const double tok_s = r.decode_seconds > 0 && r.tokens.size() > 1 ? (r.tokens.size() - 1) / r.decode_seconds : 0.0;
  std::printf("\n---\n         %lld prompt tokens in %.3f s; %zu tokens generated at %.1f tokens/s\n",
              static_cast<long long>(r.prompt_tokens), r.prefill_seconds, r.tokens.size(), tok_s);
  std::printf("demo     %.1f s in all. Next: aprc compile MODEL -o model.plan; aprc run model.plan --prompt TEXT\n",
              since(start));
  return 0;
}

}  // namespace aprc
