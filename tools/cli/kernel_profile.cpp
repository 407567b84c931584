#include "kernel_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "aprc/argmax.h"
#include "aprc/cuda/abi.h"
#include "aprc/error.h"
#include "args.h"
#include "plan_commands.h"

namespace aprc::cli {
namespace {

// Sums each step's time over the calls it sees.
class StepTimer final : public StepObserver {
 public:
  explicit StepTimer(size_t steps) : seconds_(steps, 0.0) {}
  bool wants_timing() const override { return true; }
  void after_step(const StepEvent& e) override { seconds_.at(e.index) += e.seconds; }
  const std::vector<double>& seconds() const { return seconds_; }

 private:
  std::vector<double> seconds_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int32_t argmax(const std::vector<float>& logits, int64_t vocab, int64_t row) {
  return static_cast<int32_t>(first_argmax(logits.data() + row * vocab, vocab));
}

// Aggregates per-step seconds (summed over `repeats` calls) by kernel.
CallProfile aggregate(const Function& fn, const PlanManifest& m, const std::vector<double>& seconds, int repeats,
                      int64_t T, int64_t pos, double wall) {
  CallProfile p{fn.name, T, pos, repeats, 0, wall, {}};
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < fn.steps.size(); ++i) {
    const Step& s = fn.steps[i];
    auto [it, fresh] = index.emplace(s.kernel, p.kernels.size());
    if (fresh) p.kernels.push_back(KernelProfile{s.kernel, s.spec.kind, 0, 0, {}});
    KernelProfile& k = p.kernels[it->second];
    ++k.calls;
    k.seconds += seconds[i] / repeats;
    k.cost += step_cost(s, m, T, pos);
    p.timed_seconds += seconds[i] / repeats;
  }
  std::sort(p.kernels.begin(), p.kernels.end(), [](const KernelProfile& a, const KernelProfile& b) { return a.seconds > b.seconds; });
  return p;
}

struct Roofline {
  double seconds = 0;  // the time the kernel needs at the measured peaks
  bool memory = true;  // whether bandwidth (not arithmetic) bounds it
};

Roofline roofline(const KernelProfile& k, const PerKernelResult& r) {
  const StepCost& c = k.cost;
  const double peak = kernel_peak(k.kernel, r).gflops;
  const double mem = r.bandwidth.roofline_gbs > 0 ? c.bytes() / (r.bandwidth.roofline_gbs * 1e9) : 0;
  const double flop = peak > 0 ? c.flops / (peak * 1e9) : 0;
  return {std::max(mem, flop), mem >= flop};
}

std::string time_text(double s) {
  char buf[32];
  if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  return buf;
}

}  // namespace

KernelPeak kernel_peak(const std::string& kernel, const PerKernelResult& r) {
  if (r.engine == "cuda") {
    const cuda::Variant v = cuda::variant_of(kernel);
    if (v == cuda::Variant::Mma) return {"bf16 mma", r.tensor_peaks.bf16_gflops};
    if (v == cuda::Variant::Fp8Mma) return {"e4m3 mma", r.tensor_peaks.fp8_gflops};
  }
  return {"fp32", r.peak_gflops};
}

StepCost step_cost(const Step& step, const PlanManifest& m, int64_t T, int64_t pos) {
  const KernelSpec& s = step.spec;
  const double rows = static_cast<double>(step.scalars.empty() ? T : step.scalars[0].eval(T, pos));
  StepCost c;
  for (const Arg& a : step.args) {
    if (a.kind != ArgKind::Weight || a.index < 0 || static_cast<size_t>(a.index) >= m.weights.size()) continue;
    const PlanWeight& w = m.weights[static_cast<size_t>(a.index)];
    // An embedding reads the rows it looks up; everything else reads its weights whole.
    c.weight_bytes += s.kind == KernelKind::Embedding ? static_cast<double>(w.bytes) / static_cast<double>(w.rows()) * rows
                                                      : static_cast<double>(w.bytes);
  }
  const double f32 = 4, cache_elem = format_info(m.kv_cache.dtype).block_bytes;
  const double q = static_cast<double>(s.heads * s.head_dim), kv = static_cast<double>(s.kv_heads * s.head_dim);
  switch (s.kind) {
    case KernelKind::Embedding:
      c.activation_bytes = rows * static_cast<double>(s.cols) * f32;
      break;
    case KernelKind::RmsNorm:
      c.activation_bytes = 2 * rows * static_cast<double>(s.cols) * f32;
      c.flops = 3 * rows * static_cast<double>(s.cols);
      break;
    case KernelKind::Linear: {
      if (s.weights.empty()) break;
      const double K = static_cast<double>(s.weights[0].cols);
      double N = 0;
      for (const WeightDesc& w : s.weights) N += static_cast<double>(w.rows);
      const double out = s.epilogue == Epilogue::SwiGLU ? static_cast<double>(s.weights[0].rows) : N;
      c.activation_bytes = rows * (K + out) * f32 + (s.epilogue == Epilogue::Residual ? rows * out * f32 : 0);
      c.flops = 2 * rows * K * N + (s.has_norm ? 3 * rows * K : 0) + (s.epilogue == Epilogue::SwiGLU ? 5 * rows * out : 0);
      break;
    }
    case KernelKind::Rope:
      c.activation_bytes = 2 * rows * q * f32;
      c.flops = 3 * rows * q;
      break;
    case KernelKind::KvAppend:
      // with heads > 0 the queries are rotated in place too (read and written)
      c.activation_bytes = (2 + (s.rope ? 1 : 0)) * rows * kv * f32 + 2 * rows * q * f32;
      c.cache_bytes = 2 * rows * kv * cache_elem;
      c.flops = s.rope ? 3 * rows * (kv + q) : 0;
      break;
    case KernelKind::Attention: {
      // Every cached position up to the last token's, read once; each token attends to pos + t + 1.
      c.cache_bytes = 2 * (static_cast<double>(pos) + rows) * kv * cache_elem;
      c.activation_bytes = 2 * rows * q * f32;
      const double keys = rows * static_cast<double>(pos) + rows * (rows + 1) / 2;
      c.flops = 4 * q * keys;
      if (s.rope) {  // the rope_qk_kv_append it does first (fuse_decode_steps)
        Step append = step;
        append.spec.kind = KernelKind::KvAppend;
        c += step_cost(append, m, T, pos);  // no weights: an attention binds none
      }
      break;
    }
    case KernelKind::Silu:
      c.activation_bytes = 2 * rows * static_cast<double>(s.cols) * f32;
      c.flops = 4 * rows * static_cast<double>(s.cols);
      break;
    case KernelKind::Mul:
    case KernelKind::Add:
      c.activation_bytes = 3 * rows * static_cast<double>(s.cols) * f32;
      c.flops = rows * static_cast<double>(s.cols);
      break;
  }
  return c;
}

PerKernelResult profile_kernels(Engine& engine, const Plan& plan, const PlanTarget& target,
                                const PerKernelOptions& options,
                                const std::function<void(std::string_view)>& progress) {
  const PlanManifest& m = plan.manifest();
  const int64_t vocab = m.config.vocab_size;
  const Function* prefill = target.function("prefill_last") ? target.function("prefill_last") : target.function("prefill");
  const Function* decode = target.function("decode");
  if (!prefill || !decode) throw_bad_input(plan.path() + ": the " + target.name + " target lacks a prefill or decode function");
  constexpr int kWarmup = 2, kWall = 4;
  const int64_t P = options.prompt_len;
  if (P < 1 || options.decode_steps < 1) throw_bad_input("--per-kernel needs at least one prompt token and one decode step");
  if (P + kWarmup + options.decode_steps + kWall > engine.context())
    throw_bad_input(plan.path() + ": " + std::to_string(P) + " prompt tokens and " + std::to_string(options.decode_steps) +
                    " decode steps do not fit a context of " + std::to_string(engine.context()));

  PerKernelResult r;
  r.engine = std::string(engine.kind());
  r.device = engine.device();
  std::mt19937 rng(7);
  std::vector<int32_t> prompt(static_cast<size_t>(P));
  for (int32_t& id : prompt) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  const bool all_rows = prefill->name == "prefill";
  std::vector<float> logits(static_cast<size_t>((all_rows ? prefill->max_tokens : 1) * vocab));

  // Prefill: the first call (its own chunk), untimed then timed at the same positions.
  const int64_t T = std::min(P, prefill->max_tokens);
  const std::span<const int32_t> first(prompt.data(), static_cast<size_t>(T));
  if (progress) progress("prefill of " + std::to_string(T) + " tokens: a call without timing, then one step by step");
  engine.run(*prefill, first, 0, logits.data());  // warms the weights up
  auto start = std::chrono::steady_clock::now();
  engine.run(*prefill, first, 0, logits.data());
  const double prefill_wall = seconds_since(start);
  {
    StepTimer timer(prefill->steps.size());
    engine.set_step_observer(&timer);
    engine.run(*prefill, first, 0, logits.data());
    engine.set_step_observer(nullptr);
    r.prefill = aggregate(*prefill, m, timer.seconds(), 1, T, 0, prefill_wall);
  }
  for (int64_t pos = T; pos < P; pos += prefill->max_tokens) {
    const int64_t n = std::min(prefill->max_tokens, P - pos);
    engine.run(*prefill, std::span<const int32_t>(prompt.data() + pos, static_cast<size_t>(n)), pos, logits.data());
  }

  // Decode: warm-up steps, then the timed steps, then steps without timing for the real step time.
  int64_t pos = P;
  int32_t next = argmax(logits, vocab, all_rows ? std::min(P, prefill->max_tokens) - 1 : 0);
  auto step = [&] {
    engine.run(*decode, std::span<const int32_t>(&next, 1), pos++, logits.data());
    next = argmax(logits, vocab, 0);
  };
  for (int i = 0; i < kWarmup; ++i) step();
  if (progress) progress("decoding " + std::to_string(options.decode_steps) + " tokens step by step");
  const int64_t timed_pos = pos;
  StepTimer timer(decode->steps.size());
  engine.set_step_observer(&timer);
  for (int64_t i = 0; i < options.decode_steps; ++i) step();
  engine.set_step_observer(nullptr);
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kWall; ++i) step();
  const double decode_wall = seconds_since(start) / kWall;
  r.decode = aggregate(*decode, m, timer.seconds(), static_cast<int>(options.decode_steps), 1,
                       timed_pos + options.decode_steps / 2, decode_wall);

  if (progress) progress("measuring the memory bandwidth and the arithmetic peak");
  r.bandwidth = engine.measure_memory_bandwidth();
  r.peak_gflops = engine.measure_peak_gflops();
  r.tensor_peaks = engine.measure_tensor_peaks();
  return r;
}

void print_per_kernel(const PerKernelResult& r, const std::string& plan_path) {
  std::printf("%s on %s: %s\n", plan_path.c_str(), r.engine.c_str(), r.device.c_str());
  std::printf("measured peaks: memory %.2f GB/s (%s); arithmetic ", r.bandwidth.roofline_gbs, r.bandwidth.roofline.c_str());
  if (r.peak_gflops > 0 && r.engine == "cuda") {
    char fp8[64] = "not measured (before sm_89)";
    if (r.tensor_peaks.fp8_gflops > 0) std::snprintf(fp8, sizeof fp8, "%.1f", r.tensor_peaks.fp8_gflops);
    std::printf("fp32 %.1f GFLOP/s (FMA chains on every SM); tensor cores: bf16 mma %.1f, e4m3 mma %s GFLOP/s\n"
                "(mma.sync chains; the tensor-core prefill tiles are held to the peak of their instruction)\n",
                r.peak_gflops, r.tensor_peaks.bf16_gflops, fp8);
  } else if (r.peak_gflops > 0)
    std::printf("%.1f GFLOP/s (the faster of fp32 FMA and bf16 dot-product chains, every thread)\n", r.peak_gflops);
  else
    std::printf("not measured by this engine\n");
  std::printf("columns: share of the steps' time; GB/s and GFLOP/s achieved (bytes and flops the kernel must move\n"
              "and do at least) and their fractions of the peaks; the bound at the peaks; of RL = roofline time /\n"
              "measured time (1: at the roofline; above 1: its data came from cache, faster than the memory peak)\n");
  for (const CallProfile* p : {&r.decode, &r.prefill}) {
    const bool decode = p == &r.decode;
    std::printf("\n%s", decode ? "decode step" : "prefill call");
    if (decode)
      std::printf(" at position ~%lld (mean of %d steps)", static_cast<long long>(p->pos), p->repeats);
    else
      std::printf(" of %lld tokens at position 0 (@%s)", static_cast<long long>(p->T), p->function.c_str());
    std::printf(": %s a call; its steps timed one by one add up to %s\n", time_text(p->wall_seconds).c_str(),
                time_text(p->timed_seconds).c_str());
    size_t width = 6;
    for (const KernelProfile& k : p->kernels) width = std::max(width, k.kernel.size());
    width = std::min<size_t>(width, 60);
    std::printf("  %-*s %5s %10s %6s %9s %6s %9s %6s %-8s %7s %6s\n", static_cast<int>(width), "kernel", "calls", "time",
                "share", "GB/s", "of BW", "GFLOP/s", "of pk", "peak", "bound", "of RL");
    StepCost total;
    double roofline_total = 0;
    std::map<std::string, std::pair<double, double>> by_kind;  // kind -> (seconds, roofline seconds)
    for (const KernelProfile& k : p->kernels) {
      const Roofline rl = roofline(k, r);
      const KernelPeak peak = kernel_peak(k.kernel, r);
      const double gbs = k.seconds > 0 ? k.cost.bytes() / k.seconds / 1e9 : 0;
      const double gflops = k.seconds > 0 ? k.cost.flops / k.seconds / 1e9 : 0;
      std::printf("  %-*.*s %5d %10s %5.1f%% %9.2f %6.2f %9.2f %6.3f %-8s %7s %6.2f\n", static_cast<int>(width),
                  static_cast<int>(width), k.kernel.c_str(), k.calls, time_text(k.seconds).c_str(),
                  100 * k.seconds / std::max(p->timed_seconds, 1e-12), gbs,
                  r.bandwidth.roofline_gbs > 0 ? gbs / r.bandwidth.roofline_gbs : 0.0, gflops,
                  peak.gflops > 0 ? gflops / peak.gflops : 0.0, peak.name, rl.memory ? "memory" : "compute",
                  k.seconds > 0 ? rl.seconds / k.seconds : 0.0);
      total.weight_bytes += k.cost.weight_bytes;
      total.cache_bytes += k.cost.cache_bytes;
      total.activation_bytes += k.cost.activation_bytes;
      total.flops += k.cost.flops;
      roofline_total += rl.seconds;
      by_kind[kernel_kind_name(k.kind)].first += k.seconds;
      by_kind[kernel_kind_name(k.kind)].second += rl.seconds;
    }
    std::printf("  roofline: %.1f MB to move (weights %.1f, KV cache %.2f, activations %.2f) and %.2f GFLOP: %s at the\n"
                "  measured peaks; the call takes %s, %.2f of the roofline (steps timed alone: %.2f)\n",
                total.bytes() / 1e6, total.weight_bytes / 1e6, total.cache_bytes / 1e6, total.activation_bytes / 1e6,
                total.flops / 1e9, time_text(roofline_total).c_str(), time_text(p->wall_seconds).c_str(),
                p->wall_seconds > 0 ? roofline_total / p->wall_seconds : 0.0,
                p->timed_seconds > 0 ? roofline_total / p->timed_seconds : 0.0);
    std::vector<std::pair<std::string, std::pair<double, double>>> kinds(by_kind.begin(), by_kind.end());
    std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    std::string where;
    for (const auto& [kind, t] : kinds) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s%s %.0f%% (%.2f of its roofline)", where.empty() ? "" : ", ", kind.c_str(),
                    100 * t.first / std::max(p->timed_seconds, 1e-12), t.first > 0 ? t.second / t.first : 0.0);
      where += buf;
    }
    std::printf("  where the time goes: %s\n", where.c_str());
    // The kernels that lose the most time against their roofline.
    std::vector<std::pair<double, std::string>> gaps;
    for (const KernelProfile& k : p->kernels) gaps.emplace_back(k.seconds - roofline(k, r).seconds, k.kernel);
    std::sort(gaps.rbegin(), gaps.rend());
    std::string lost;
    for (size_t i = 0; i < std::min<size_t>(3, gaps.size()); ++i)
      lost += (i ? ", " : "") + gaps[i].second + " (" + time_text(gaps[i].first) + ")";
    std::printf("  most time above the roofline: %s\n", lost.c_str());
  }
}

nlohmann::json per_kernel_json(const PerKernelResult& r) {
  auto call = [&](const CallProfile& p) {
    nlohmann::json kernels = nlohmann::json::array();
    for (const KernelProfile& k : p.kernels) {
      const Roofline rl = roofline(k, r);
      const KernelPeak peak = kernel_peak(k.kernel, r);
      const double gflops = k.seconds > 0 ? k.cost.flops / k.seconds / 1e9 : 0.0;
      kernels.push_back({{"kernel", k.kernel},
                         {"kind", kernel_kind_name(k.kind)},
                         {"calls", k.calls},
                         {"seconds", k.seconds},
                         {"weight_bytes", k.cost.weight_bytes},
                         {"cache_bytes", k.cost.cache_bytes},
                         {"activation_bytes", k.cost.activation_bytes},
                         {"flops", k.cost.flops},
                         {"gbs", k.seconds > 0 ? k.cost.bytes() / k.seconds / 1e9 : 0.0},
                         {"gflops", gflops},
                         {"peak", peak.name},
                         {"peak_gflops", peak.gflops},
                         {"peak_fraction", peak.gflops > 0 ? gflops / peak.gflops : 0.0},
                         {"roofline_seconds", rl.seconds},
                         {"bound", rl.memory ? "memory" : "compute"}});
    }
    return nlohmann::json{{"function", p.function}, {"tokens", p.T},          {"pos", p.pos},
                          {"calls_averaged", p.repeats}, {"wall_seconds", p.wall_seconds},
                          {"timed_seconds", p.timed_seconds}, {"kernels", kernels}};
  };
  return {{"engine", r.engine},
          {"device", r.device},
          {"mem_bandwidth_gbs", r.bandwidth.roofline_gbs},
          {"peak_gflops", r.peak_gflops},
          {"tensor_peak_gflops", {{"bf16_mma", r.tensor_peaks.bf16_gflops}, {"e4m3_mma", r.tensor_peaks.fp8_gflops}}},
          {"decode", call(r.decode)},
          {"prefill", call(r.prefill)}};
}

int bench_per_kernel(const Args& args, const std::string& plan_path) {
  auto plan = open_plan_for_bench(plan_path);
  PerKernelOptions options;
  options.prompt_len = args.int_or("prompt-len", options.prompt_len);
  options.decode_steps = args.int_or("gen", options.decode_steps);
  const std::string kind = args.value_or("engine", default_engine(*plan));
  const PlanTarget* target = plan->target(kind);
  if (!target) throw_bad_input(plan_path + ": the plan has no " + kind + " target");
  EngineOptions engine_options = parse_engine_options(args);
  if (engine_options.context == 0)
    engine_options.context = std::min(plan->manifest().kv_cache.max_context, options.prompt_len + options.decode_steps + 8);
  auto engine = open_engine(plan, kind, engine_options);
  const PerKernelResult r = profile_kernels(*engine, *plan, *target, options, bench_progress);
  if (args.flag("json"))
    std::printf("%s\n", per_kernel_json(r).dump(2).c_str());
  else
    print_per_kernel(r, plan_path);
  return 0;
}

}  // namespace aprc::cli
