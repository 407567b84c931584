// aprc compile: a model file (or a synthetic preset) -> a plan for the requested targets, or with
// --emit ir the model's aprc module, compact (--emit ir-expanded: every layer unrolled; docs/design.md,
// "The IR"); --weights fp8 runs aprc-cast-fp8 (fp8_options.h) on the expanded module first.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "../cli/args.h"
#include "../cli/console_progress.h"
#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "aprc/synthetic_model.h"
#include "aprc/tokenizer_json.h"
#include "commands.h"
#include "fp8_options.h"

namespace aprc {
namespace {

constexpr const char* kUsage =
    "usage: aprc compile MODEL -o PLAN [--target TARGETS] [--max-tokens N] [--print-ir-after-all] [--mlir-timing]\n"
    "       aprc compile --synthetic PRESET -o PLAN [--seed N] [--tokenizer FILE] [--target ...]\n"
    "       aprc compile MODEL --emit ir|ir-expanded [-o OUT.mlir]\n"
    "       ... [--weights fp8 [--fp8-ops GROUPS] [--fp8-scales per-channel|per-tensor] [--fp8-activations per-token]]\n"
    "Compiles a model file (GGUF, APR, Hugging Face folder) into a plan: the fused and laid-out IR, the\n"
    "schedule of kernel calls, the generated kernels and the weights in the layouts they read.\n"
    "  --target T          cpu (default), cuda, cuda:sm_90, or several: cpu,cuda:sm_80,sm_90\n"
    "  --max-tokens N      the most tokens of one prefill call (default 512); longer prompts run in chunks\n"
    "  --print-ir-after-all  the IR after each pass, to stderr (as mlir-opt)\n"
    "  --mlir-timing       the time of each pass, to stderr (as mlir-opt)\n"
    "  --int8-activations  cpu: prefill matrix products on int8-quantized activations (faster, ~1e-2 error)\n"
    "  --synthetic PRESET  a model of random weights at real dimensions (qwen2.5-0.5b, qwen2.5-1.5b,\n"
    "                      qwen2.5-7b, tiny), for benchmarks: the plan holds the seed, not the weights\n"
    "  --seed N            the synthetic weights' seed\n"
    "  --tokenizer FILE    a synthetic plan's tokenizer (tokenizer.json); without it the plan takes ids only\n"
    "  --weights fp8       cast the layers' linear weights to fp8 e4m3 (aprc-cast-fp8), one scale per output channel\n"
    "  --fp8-ops GROUPS    attn_qkv,attn_proj,mlp,logits; layers (the default: all but logits) or all\n"
    "  --fp8-scales S      per-channel (the default) or per-tensor\n"
    "  --fp8-activations per-token  prefill activations quantized per token too (two e4m3 terms a value), so that\n"
    "                      prefill runs on the FP8 tensor cores (cuda)\n"
    "  --emit ir           print the aprc MLIR module to stdout or OUT, compact: one function per distinct\n"
    "                      decoder layer (weights by symbol, every op named), run by aprc.decoder_layers\n"
    "  --emit ir-expanded  the same module with every layer unrolled (aprc-expand-layers): what the passes,\n"
    "                      the interpreter and aprc verify read; with --weights fp8, --emit ir prints this too\n"
    "  --quiet             no progress on stderr\n"
    "  --inject-fault OP   testing aprc verify: perturb the value of the ops this pattern names (`*` for any\n"
    "                      run of characters, e.g. layers.2.mlp.down_proj), y = x + silu(x); recorded in the plan\n"
    "  --override-kernel NAME=FILE[,NAME=FILE]  replace a generated kernel with a hand-written one of the same\n"
    "                      signature: FILE.mlir for cpu, FILE.cu (CUDA C++) for cuda; start from `aprc kernels\n"
    "                      PLAN --kernel NAME`; check the plan with aprc verify\n";

void write_text(const std::optional<std::string>& path, const std::string& text) {
  if (!path) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream file(*path, std::ios::binary);
  file << text;
  if (!file.flush()) throw_bad_input(*path + ": cannot write the file");
}

}  // namespace

int cmd_compile(int argc, char** argv) {
  std::set<std::string> values{"emit", "o", "target", "max-tokens", "synthetic", "seed", "tokenizer", "weights",
                                "inject-fault", "override-kernel"};
  values.insert(std::begin(kFp8Flags), std::end(kFp8Flags));
  cli::Args args("compile", argc, argv, values, {"help", "print-ir-after-all", "mlir-timing", "int8-activations", "quiet"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::optional<std::string> synthetic = args.value("synthetic");
  args.expect_positionals(synthetic ? 0 : 1, synthetic ? 0 : 1);

  codegen::CompileOptions options;
  const std::string targets = args.value_or("target", "cpu");
  options.targets = codegen::parse_targets(targets);
  options.max_tokens = args.int_or("max-tokens", options.max_tokens);
  options.print_ir_after_all = args.flag("print-ir-after-all");
  options.timing = args.flag("mlir-timing");
  options.int8_activations = args.flag("int8-activations");
  options.recorded = {{"target", targets}, {"max_tokens", options.max_tokens}, {"int8_activations", options.int8_activations}};
  const std::string weights = args.value_or("weights", "stored");
  if (weights != "stored" && weights != "fp8")
    throw_bad_input("aprc compile: --weights " + weights + ": expected stored (the default) or fp8");
  for (const char* flag : kFp8Flags)
    if (weights != "fp8" && args.value(flag))
      throw_bad_input(std::string("aprc compile: --") + flag + " needs --weights fp8");
  if (weights == "fp8") {
    const Fp8Options fp8 = Fp8Options::from_args(args);
    options.weight_pipeline = fp8.pipeline();
    options.recorded["weights"] = fp8.description();
  }
  if (auto overrides = args.value("override-kernel")) {
    size_t start = 0;
    while (start <= overrides->size()) {
      const size_t comma = std::min(overrides->find(',', start), overrides->size());
      const std::string item = overrides->substr(start, comma - start);
      const size_t eq = item.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == item.size())
        throw_bad_input("aprc compile: --override-kernel '" + item + "': expected NAME=FILE");
      if (!options.kernel_overrides.emplace(item.substr(0, eq), item.substr(eq + 1)).second)
        throw_bad_input("aprc compile: --override-kernel names kernel '" + item.substr(0, eq) + "' twice");
      start = comma + 1;
    }
    options.recorded["override_kernels"] = options.kernel_overrides;
  }
  if (auto fault = args.value("inject-fault")) {
    if (fault->empty()) throw_bad_input("aprc compile: --inject-fault needs an op name pattern");
    options.inject_fault = *fault;
    options.recorded["inject_fault"] = *fault;
  }

  Model model;
  if (synthetic) {
    const uint64_t seed = static_cast<uint64_t>(args.int_or("seed", static_cast<int64_t>(kDefaultSyntheticSeed)));
    const auto tokenizer = args.value("tokenizer");
    model = synthetic_model(*synthetic, seed, tokenizer ? load_tokenizer_json(*tokenizer) : TokenizerData{}, false);
    options.synthetic = SyntheticInfo{*synthetic, seed};
  } else {
    model = load_model(args.positional(0, "MODEL"));
  }

  if (auto emit = args.value("emit")) {
    if (*emit != "ir" && *emit != "ir-expanded")
      throw_bad_input("aprc compile: --emit " + *emit + ": the outputs are: ir, ir-expanded");
    // The fp8 cast selects weights by their per-layer names: it prints the expanded form.
    const bool expanded = *emit == "ir-expanded" || !options.weight_pipeline.empty();
    ir::Module module = expanded ? ir::build_module(model) : ir::build_compact_module(model);
    if (!options.weight_pipeline.empty()) passes::run_pipeline(module, options.weight_pipeline);
    write_text(args.value("o"), module.print());
    return 0;
  }
  const auto out = args.value("o");
  if (!out) throw_bad_input("aprc compile: missing -o PLAN (or --emit ir)");
  cli::ConsoleProgress progress(args.flag("quiet"));
  const codegen::CompileSummary summary = codegen::compile_plan(model, *out, options, &progress);

  std::string kernels, stages;
  for (const auto& [target, n] : summary.kernels) kernels += (kernels.empty() ? "" : ", ") + target + " " + std::to_string(n);
  for (const auto& [stage, s] : summary.seconds) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.2fs", stages.empty() ? "" : ", ", stage.c_str(), s);
    stages += buf;
  }
  std::printf("%s: %zu weights (%.1f MB%s), kernels: %s\n  %s\n", out->c_str(), summary.weights,
              summary.weight_bytes / 1e6, options.synthetic ? ", generated when loaded" : "", kernels.c_str(),
              stages.c_str());
  return 0;
}

}  // namespace aprc
