// aprc_cuda_bench: batch-1 prefill and decode of a synthetic Qwen2.5 model (Q4_K_M-style weights) on the
// CUDA engine, with the card's copy bandwidth measured in the same run and decode's fraction of it.
//
//   aprc_cuda_bench --write-module FILE [--model M] [--prompt-len P] [--weights fp8]   compile the kernels here (NVRTC)
//   aprc_cuda_bench --module FILE [--model M] [--prompt-len P] [--gen G] [--weights fp8] [--json]   run on a GPU
// --weights fp8: the layers' linear weights fp8e4m3 per channel, prefill on the FP8 tensor cores (synthetic.h).
//
// Decode is timed end to end per token (ids and scalar upload, graph replay, logits download), in three
// launch modes: graph with programmatic dependent launch (the default), graph without it, and plain
// launches. A per-step profile of one decode step (each kernel alone between events) follows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "aprc/codegen/cuda.h"
#include "aprc/cuda/engine.h"
#include "aprc/error.h"
#include "aprc/formats/layouts.h"
#include "synthetic.h"

using namespace aprc;
using namespace aprc::cuda;

namespace {

struct Args {
  std::string model = "qwen2.5-7b", module, write_module;
  int64_t prompt_len = 512, gen = 128;
  bool json = false, verbose = false, fp8 = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw_bad_input("aprc_cuda_bench: " + s + " needs a value");
      return argv[++i];
    };
    if (s == "--model") a.model = value();
    else if (s == "--module") a.module = value();
    else if (s == "--write-module") a.write_module = value();
    else if (s == "--prompt-len") a.prompt_len = std::stoll(value());
    else if (s == "--gen") a.gen = std::stoll(value());
    else if (s == "--json") a.json = true;
    else if (s == "--verbose") a.verbose = true;
    else if (s == "--weights") {
      const std::string w = value();
      if (w != "fp8" && w != "q4_k_m") throw_bad_input("aprc_cuda_bench: --weights takes q4_k_m (the default) or fp8");
      a.fp8 = w == "fp8";
    }
    else throw_bad_input("aprc_cuda_bench: unknown option " + s);
  }
  if (a.prompt_len < 1 || a.gen < 1) throw_bad_input("aprc_cuda_bench: --prompt-len and --gen must be positive");
  return a;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

uint64_t step_weight_bytes(const Step& st, const synthetic::Model& m) {
  uint64_t b = 0;
  for (const auto& a : st.args)
    if (a.kind == ArgKind::Weight) {
      const WeightDesc& w = m.weights[a.index];
      b += st.spec.kind == KernelKind::Embedding ? *layout_bytes(w.layout, w.dtype, 1, w.cols)
                                                 : *layout_bytes(w.layout, w.dtype, w.rows, w.cols);
    }
  return b;
}

// Decode `n` tokens from pos; returns seconds per token (median of 3 runs of n/3 tokens).
double time_decode(Engine& e, int64_t& pos, int64_t n, std::vector<float>& logits) {
  std::vector<double> per;
  std::vector<int32_t> id{17};
  for (int r = 0; r < 3; ++r) {
    const int64_t k = std::max<int64_t>(1, n / 3);
    const double t0 = now();
    for (int64_t i = 0; i < k; ++i) {
      e.run("decode", id, pos++, 1, &logits);
      id[0] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    per.push_back((now() - t0) / k);
  }
  return median(per);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  synthetic::Config cfg = synthetic::config(args.model);
  cfg.fp8 = args.fp8;

  if (!args.write_module.empty()) {
    const synthetic::Model m = synthetic::build(cfg, args.prompt_len, 1, false);
    ModuleImage img;
    CompileOptions o;
    o.ptxas_verbose = args.verbose;
    const CompiledModule cm = compile_module(emit_module(kernels_of(m.functions)), o);
    img.source = cm.source;
    img.cubins = cm.cubins;
    img.ptx = cm.ptx;
    img.ptx_arch = cm.ptx_arch;
    save_module_image(img, args.write_module);
    if (args.verbose) fprintf(stderr, "%s\n", cm.log.c_str());
    printf("wrote %s: %zu kernels, cubin %zu bytes, ptx %zu bytes\n", args.write_module.c_str(),
           kernels_of(m.functions).size(), img.cubins[0].second.size(), img.ptx.size());
    return 0;
  }

  std::string why;
  if (!cuda_available(&why)) throw_bad_input("aprc_cuda_bench: no GPU: " + why);
  const int threads = std::max(1u, std::thread::hardware_concurrency());
  double t0 = now();
  synthetic::Model m = synthetic::build(cfg, args.prompt_len, 1, true, threads);
  const double gen_s = now() - t0;
  ModuleImage img;
  if (!args.module.empty()) img = load_module_image(args.module);
  const std::string source = emit_module(kernels_of(m.functions));
  if (img.source != source) {
    fprintf(stderr, "note: compiling the kernels with NVRTC (no matching --module)\n");
    const CompiledModule cm = compile_module(source, {});
    img = {cm.cubins, cm.ptx_arch, cm.ptx, cm.source};
  }
  std::vector<std::span<const uint8_t>> ws;
  for (const auto& b : m.bytes) ws.emplace_back(b);
  EngineOptions opt;
  opt.vocab = cfg.vocab;
  opt.context = args.prompt_len + 4 * args.gen + 64;
  t0 = now();
  Engine e(open_cuda_device(), img, m.functions, ws, m.kv, opt);
  const double load_s = now() - t0;
  for (auto& b : m.bytes) std::vector<uint8_t>().swap(b);
  const std::string device = e.device().description();

  const double bw = e.device().copy_bandwidth_gbs(uint64_t(2) << 30, 20);

  // Prefill: the prompt in one call (logits of the last position), median of 3 after a warm-up.
  std::vector<int32_t> prompt(static_cast<size_t>(args.prompt_len));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % cfg.vocab);
  std::vector<float> logits;
  e.run("prefill_last", prompt, 0, 1, &logits);
  std::vector<double> pre;
  for (int r = 0; r < 3; ++r) {
    const double s = now();
    e.run("prefill_last", prompt, 0, 1, &logits);
    pre.push_back(now() - s);
  }
  const double prefill_s = median(pre);
  bool finite = std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); });

  // Decode in three launch modes.
  int64_t pos = args.prompt_len;
  std::vector<float> dl;
  e.run("decode", std::vector<int32_t>{1}, pos++, 1, &dl);  // warm-up and capture
  e.run("decode", std::vector<int32_t>{1}, pos++, 1, &dl);
  const double dec_graph_pdl = time_decode(e, pos, args.gen, dl);
  finite = finite && std::all_of(dl.begin(), dl.end(), [](float v) { return std::isfinite(v); });
  const bool pdl_available = e.device().programmatic_launch();
  e.device().set_programmatic_launch(false);
  e.reset_graphs();
  e.run("decode", std::vector<int32_t>{1}, pos++, 1, &dl);
  const double dec_graph = time_decode(e, pos, args.gen, dl);
  e.device().set_programmatic_launch(pdl_available);
  e.set_graphs(false);
  const double dec_plain = time_decode(e, pos, args.gen, dl);
  e.set_graphs(true);
  e.device().set_programmatic_launch(pdl_available);
  e.reset_graphs();

  // Per-step profile of one decode step (each kernel alone).
  const auto& steps = e.steps("decode");
  const std::vector<double> prof = e.profile_steps("decode", std::vector<int32_t>{1}, pos, 5);
  const auto& psteps = e.steps("prefill_last");
  const std::vector<double> pprof = e.profile_steps("prefill_last", prompt, 0, 1);

  // Layer 1's decode kernels (and the logits), each launched 50 times back to back: kernel time plus
  // the launch gap, without the per-launch event overhead of the profile above.
  struct Rep {
    std::string what;
    double s;
    uint64_t bytes;
  };
  std::vector<Rep> reps;
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string op = steps[i].outputs.empty() ? "" : steps[i].outputs[0].op;
    if (op.rfind("layers.1.", 0) != 0 && op != "logits") continue;
    const double s = e.profile_step_repeated("decode", i, std::vector<int32_t>{1}, pos, 50);
    reps.push_back({op + " " + steps[i].kernel.substr(0, 24), s, step_weight_bytes(steps[i], m)});
  }

  const double decode_tok_s = 1.0 / dec_graph_pdl;
  const double wbytes = static_cast<double>(m.weight_bytes_per_token);
  const double fraction = wbytes * decode_tok_s / (bw * 1e9);

  struct Agg {
    double s = 0;
    uint64_t bytes = 0;
    int n = 0;
  };
  auto aggregate = [&](const std::vector<Step>& sts, const std::vector<double>& secs) {
    std::map<std::string, Agg> by;
    for (size_t i = 0; i < sts.size(); ++i) {
      std::string key = sts[i].kernel;
      if (auto at = key.find("_"); at != std::string::npos) key = key.substr(0, at);
      const std::string op = sts[i].outputs.empty() ? "" : sts[i].outputs[0].op;
      const auto dot = op.rfind('.');
      key += " " + (dot == std::string::npos ? op : op.substr(dot + 1)) + " " + std::string(variant_suffix(variant_of(sts[i].kernel)));
      Agg& a = by[key];
      a.s += secs[i];
      a.bytes += step_weight_bytes(sts[i], m);
      ++a.n;
    }
    return by;
  };
  double prof_total = 0;
  for (double s : prof) prof_total += s;

  printf("device: %s\n", device.c_str());
  const char* weights_kind = cfg.fp8 ? "fp8e4m3 per channel, FP8 tensor-core prefill" : "Q4_K_M-style";
  printf("model: synthetic %s (%s), %.2f GB of weights read per decoded token\n", cfg.name.c_str(), weights_kind,
         wbytes / 1e9);
  printf("setup: weights generated in %.1f s, engine loaded in %.1f s, %.2f GB on the device\n", gen_s, load_s,
         e.device_bytes() / 1e9);
  printf("copy bandwidth (device-to-device, read+write): %.0f GB/s\n", bw);
  printf("prefill %lld tokens: %.1f ms, %.0f tok/s\n", (long long)args.prompt_len, prefill_s * 1e3,
         args.prompt_len / prefill_s);
  printf("decode (graph + programmatic launch%s): %.3f ms/token, %.1f tok/s, %.3f of copy bandwidth\n",
         pdl_available ? "" : " unavailable", dec_graph_pdl * 1e3, decode_tok_s, fraction);
  printf("decode (graph, ordinary launch):        %.3f ms/token, %.1f tok/s, %.3f of copy bandwidth\n", dec_graph * 1e3,
         1.0 / dec_graph, wbytes / dec_graph / (bw * 1e9));
  printf("decode (no graph, programmatic launch): %.3f ms/token, %.1f tok/s\n", dec_plain * 1e3, 1.0 / dec_plain);
  printf("one decode step, kernels timed alone: %.3f ms in %zu launches (sum)\n", prof_total * 1e3, steps.size());
  printf("logits finite: %s\n", finite ? "yes" : "NO");
  printf("\n%-58s %5s %10s %10s %8s\n", "decode kernels (by kind and op)", "n", "us total", "MB", "GB/s");
  for (const auto& [k, a] : aggregate(steps, prof))
    printf("%-58s %5d %10.1f %10.1f %8.0f\n", k.substr(0, 58).c_str(), a.n, a.s * 1e6, a.bytes / 1e6,
           a.bytes ? a.bytes / a.s / 1e9 : 0.0);
  printf("\n%-58s %10s %8s\n", "decode kernels of layer 1, 50 launches back to back", "us each", "GB/s");
  for (const auto& r : reps)
    printf("%-58s %10.2f %8.0f\n", r.what.substr(0, 58).c_str(), r.s * 1e6, r.bytes ? r.bytes / r.s / 1e9 : 0.0);
  double pre_total = 0;
  for (double s : pprof) pre_total += s;
  printf("\n%-58s %5s %10s (prefill %lld tokens, %.1f ms summed)\n", "prefill kernels", "n", "us total",
         (long long)args.prompt_len, pre_total * 1e3);
  for (const auto& [k, a] : aggregate(psteps, pprof))
    printf("%-58s %5d %10.1f\n", k.substr(0, 58).c_str(), a.n, a.s * 1e6);
  if (args.json)
    printf("\n{\"prefill_tok_s\": %.1f, \"decode_tok_s\": %.2f, \"weight_bytes_per_token\": %.0f, \"mem_bandwidth_gbs\": %.1f, "
           "\"decode_bandwidth_fraction\": %.4f, \"peak_rss_mb\": null, \"device\": \"%s\", \"engine\": \"cuda\", "
           "\"model\": \"synthetic %s\", \"weights\": \"%s\", \"prompt_len\": %lld, \"gen\": %lld, "
           "\"decode_tok_s_no_pdl\": %.2f}\n",
           args.prompt_len / prefill_s, decode_tok_s, wbytes, bw, fraction, device.c_str(), cfg.name.c_str(),
           cfg.fp8 ? "fp8" : "q4_k_m", (long long)args.prompt_len, (long long)args.gen, 1.0 / dec_graph);
  return finite ? 0 : 1;
} catch (const Error& err) {
  fprintf(stderr, "%s\n", err.what());
  return err.exit_code();
} catch (const std::exception& err) {
  fprintf(stderr, "aprc_cuda_bench: %s\n", err.what());
  return 1;
}
