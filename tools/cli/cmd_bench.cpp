// aprc bench PLAN: prefill and decode speed against the memory bandwidth measured in the same run.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "aprc/bench.h"
#include "aprc/error.h"
#include "aprc/runtime.h"
#include "kernel_profile.h"
#include "plan_commands.h"

namespace aprc::cli {

int cmd_bench(int argc, char** argv) {
  std::set<std::string> values = {"prompt-len", "gen"};
  for (const auto& f : engine_value_flags()) values.insert(f);
  Args args("bench", argc, argv, values, {"json", "help", "per-kernel"});
  if (args.flag("help")) {
    std::printf("usage: aprc bench PLAN [--prompt-len 512] [--gen 128] [--per-kernel] [--json] [options]\n"
                "Prefills --prompt-len tokens, decodes --gen more, and compares decode with the memory\n"
                "bandwidth measured in the same run (progress on stderr).\n"
                "  --per-kernel           each kernel's time in a decode step (--gen steps averaged, default 16)\n"
                "                         and in one prefill call (--prompt-len tokens, default 128), with the\n"
                "                         bytes and flops it must move and do against the measured bandwidth\n"
                "                         and arithmetic peak, and where the step's time goes\n%s",
                engine_options_help());
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string path = plan_path_argument(args, "bench");
  if (args.flag("per-kernel")) return bench_per_kernel(args, path);
  BenchOptions options;
  options.prompt_len = args.int_or("prompt-len", 512);
  options.gen = args.int_or("gen", 128);

  auto plan = open_plan_for_bench(path);
  const std::string engine = args.value_or("engine", default_engine(*plan));
  EngineOptions engine_options = parse_engine_options(args);
  if (engine_options.context == 0)  // a KV cache as large as the run needs, not the plan's maximum
    engine_options.context = std::min(plan->manifest().kv_cache.max_context, options.prompt_len + options.gen);
  Session session(plan, open_engine(plan, engine, engine_options));
  const BenchResult r = run_bench(session, options, bench_progress);

  if (args.flag("json")) {
    nlohmann::json j = {{"prefill_tok_s", r.prefill_tok_s},
                        {"decode_tok_s", r.decode_tok_s},
                        {"weight_bytes_per_token", r.weight_bytes_per_token},
                        {"mem_bandwidth_gbs", r.bandwidth.roofline_gbs},
                        {"decode_bandwidth_fraction", r.decode_bandwidth_fraction},
                        {"peak_rss_mb", r.peak_rss_mb},
                        {"device", r.device}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  const double decode_gbs = static_cast<double>(r.weight_bytes_per_token) * r.decode_tok_s / 1e9;
  std::printf("%s on %s: %s\n", path.c_str(), r.engine.c_str(), r.device.c_str());
  std::printf("  prefill   %6lld tokens  %10.1f tok/s\n", static_cast<long long>(r.prompt_len), r.prefill_tok_s);
  std::printf("  decode    %6lld tokens  %10.2f tok/s   %.1f MB of weights a token: %.2f GB/s\n",
              static_cast<long long>(r.gen), r.decode_tok_s, static_cast<double>(r.weight_bytes_per_token) / 1e6, decode_gbs);
  std::printf("  memory    %.2f GB/s (%s)", r.bandwidth.roofline_gbs, r.bandwidth.roofline.c_str());
  if (r.bandwidth.copy_gbs > 0) std::printf("; copy %.2f GB/s (read + write)", r.bandwidth.copy_gbs);
  std::printf("\n  decode reads weights at %.2f of the measured bandwidth; prefill is %.1fx decode per token\n",
              r.decode_bandwidth_fraction, r.prefill_tok_s / r.decode_tok_s);
  std::printf("  peak RSS  %.0f MB\n", r.peak_rss_mb);
  return 0;
}

}  // namespace aprc::cli
