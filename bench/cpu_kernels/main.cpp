// bench_cpu_kernels: the generated CPU kernels against this machine's rooflines.
//
//   memory:  read bandwidth (all threads summing a 1 GiB buffer) and memcpy bandwidth
//   matvec:  each Linear of a decode step (T = 1) at the real Qwen2.5 shapes, over enough copies of
//            the weights that they stream from memory as in a real model: achieved GB/s and its
//            ratio to the read bandwidth
//   matmul:  the same Linears at T = --tokens (prefill): GFLOP/s, and time per token against
//            decode's
//   attention: one layer's, decode at 512 and 2048 positions and prefill at T = --tokens
//   --micro: compute ceilings, one thread on weights in L2 (no memory in the way)
//   --compile: generating, optimizing and linking every kernel of a model of --model's shapes
//
// Usage: bench_cpu_kernels [--threads N] [--tokens T] [--json] [--model 0.5b|1.5b|7b] [--quick]
//                          [--micro] [--compile] [--chunks-per-thread N]
// Runs at normal priority; on a shared machine run it as `nice -n -20` in its own session (echo -20
// > /proc/self/autogroup) so that the measurement sees the cores, and compare wall and CPU time.
#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aprc/codegen/cpu_codegen.h"
#include "aprc/formats/layouts.h"
#include "cpu/cpu_module.h"

using namespace aprc;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double thread_cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// A fixed set of worker threads that run fn(worker) together and wait for each other (spinning,
// so that a call costs microseconds, as in the runtime's executor).
class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    stop_ = true;
    gen_.fetch_add(1);
    for (auto& t : threads_) t.join();
  }
  int size() const { return n_; }
  // Runs fn on every worker; returns the wall time, and adds the CPU time the workers spent in fn
  // to cpu_seconds (on a shared, loaded machine the two differ: CPU time / workers is what the
  // kernels would take with the cores to themselves).
  double run(const std::function<void(int)>& fn) {
    const double t0 = now();
    fn_ = &fn;
    done_ = 0;
    gen_.fetch_add(1, std::memory_order_release);
    timed(0);
    done_.fetch_add(1);
    while (done_.load(std::memory_order_acquire) < n_) {
    }
    return now() - t0;
  }
  double cpu_seconds = 0;

 private:
  void loop(int i) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g;
      while ((g = gen_.load(std::memory_order_acquire)) == seen) {
      }
      seen = g;
      if (stop_) return;
      timed(i);
      done_.fetch_add(1, std::memory_order_release);
    }
  }
  void timed(int i) {
    const double c0 = thread_cpu_now();
    (*fn_)(i);
    const double c = thread_cpu_now() - c0;
    std::lock_guard<std::mutex> lock(mu_);
    cpu_seconds += c;
  }
  int n_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* fn_ = nullptr;
};

// Wall-clock and CPU-time views of one measurement: `cpu` is the workers' CPU time divided by
// their number, i.e. the time with the cores to ourselves, which is what a shared, loaded machine
// still lets us measure.
struct Span {
  double wall = 1e30, cpu = 1e30;
  void keep_best(double w, double c) {
    wall = std::min(wall, w);
    cpu = std::min(cpu, c);
  }
};

template <class F>
std::pair<double, double> measure(Pool& pool, F&& body) {
  const double c0 = pool.cpu_seconds, t0 = now();
  body();
  return {now() - t0, (pool.cpu_seconds - c0) / pool.size()};
}

// Sums 64-byte vectors into eight accumulators: the loads, not the adds, set the pace. Built for
// AVX-512 where the CPU has it (the bench's own code is compiled for the x86-64 baseline).
typedef float v16f __attribute__((vector_size(64)));
__attribute__((target("avx512f"))) float sum_avx512(const float* p, size_t n) {
  v16f a[8] = {};
  for (size_t i = 0; i + 128 <= n; i += 128)
    for (int j = 0; j < 8; ++j) {
      v16f v;
      std::memcpy(&v, p + i + 16 * j, 64);
      a[j] += v;
    }
  float s = 0;
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 16; ++l) s += a[j][l];
  return s;
}
float sum_baseline(const float* p, size_t n) {
  float a[16] = {};
  for (size_t i = 0; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) a[j] += p[i + j];
  float s = 0;
  for (float x : a) s += x;
  return s;
}

Span read_bandwidth(Pool& pool) {
  const size_t n = size_t(1) << 30;
  std::vector<float> buf(n / 4, 1.0f);
  std::vector<double> sums(pool.size());
  const bool avx512 = __builtin_cpu_supports("avx512f");
  Span best;
  for (int rep = 0; rep < 8; ++rep) {
    auto [w, c] = measure(pool, [&] {
      pool.run([&](int w) {
        const size_t per = buf.size() / pool.size();
        const float* p = buf.data() + per * w;
        sums[w] = avx512 ? sum_avx512(p, per) : sum_baseline(p, per);
      });
    });
    best.keep_best(w, c);
  }
  best.wall = n / best.wall / 1e9;  // GB/s
  best.cpu = n / best.cpu / 1e9;
  return best;
}

double memcpy_bandwidth() {
  const size_t n = size_t(512) << 20;
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const double t0 = now();
    std::memcpy(b.data(), a.data(), n);
    best = std::max(best, 2.0 * n / (now() - t0) / 1e9);  // bytes read + written
  }
  return best;
}

struct Shapes {
  const char* name;
  int64_t hidden, inter, heads, kv_heads, head_dim, vocab, layers;
};
constexpr Shapes kModels[] = {
    {"0.5b", 896, 4864, 14, 2, 64, 151936, 24},
    {"1.5b", 1536, 8960, 12, 2, 128, 151936, 28},
    {"7b", 3584, 18944, 28, 4, 128, 152064, 28},
};

WeightDesc wdesc(DType dt, int64_t rows, int64_t cols, bool r16) {
  return WeightDesc{dt, r16 && layout_supports(WeightLayout::CpuR16, dt) ? WeightLayout::CpuR16 : WeightLayout::RowMajor,
                    ScaleGranularity::PerChannel, rows, cols};
}

// The Linears of one decoder layer plus the output head, typed as llama.cpp's Q4_K_M types them
// (Q4_K and Q6_K; Q5_0 and Q8_0 where a row is not a whole number of 256-blocks).
std::vector<std::pair<std::string, KernelSpec>> model_linears(const Shapes& m, bool r16) {
  const bool k_ok = m.hidden % 256 == 0;
  const DType q4 = k_ok ? DType::Q4_K : DType::Q5_0, q6 = k_ok ? DType::Q6_K : DType::Q8_0;
  const int64_t H = m.hidden, I = m.inter, qd = m.heads * m.head_dim, kvd = m.kv_heads * m.head_dim;
  auto lin = [&](std::vector<WeightDesc> w, Epilogue e, bool norm, bool bias) {
    KernelSpec s;
    s.kind = KernelKind::Linear;
    s.weights = w;
    s.epilogue = e;
    s.has_norm = norm;
    if (norm) s.norm = WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, w[0].cols};
    if (bias)
      for (auto& x : w) s.biases.push_back(WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, x.rows});
    return s;
  };
  return {
      {"qkv", lin({wdesc(q4, qd, H, r16), wdesc(q4, kvd, H, r16), wdesc(q6, kvd, H, r16)}, Epilogue::None, true, true)},
      {"o_proj", lin({wdesc(q4, H, qd, r16)}, Epilogue::Residual, false, false)},
      {"gate_up", lin({wdesc(q4, I, H, r16), wdesc(q4, I, H, r16)}, Epilogue::SwiGLU, true, false)},
      {"down", lin({wdesc(DType::Q6_K, H, I, r16)}, Epilogue::Residual, false, false)},
      {"lm_head", lin({wdesc(q6, m.vocab, H, r16)}, Epilogue::None, true, false)},
  };
}

struct Buffers {
  std::vector<std::vector<uint8_t>> weights;  // one copy
  std::vector<std::vector<float>> small;      // gamma, biases (f32)
  uint64_t weight_bytes = 0;
};

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, uint64_t n) {
  std::vector<uint8_t> v(n);
  for (uint64_t i = 0; i + 8 <= n; i += 8) {
    uint64_t r = rng();
    std::memcpy(&v[i], &r, 8);
  }
  return v;
}

// Fills f16 scale fields of every block so that no value is Inf/NaN (random codes elsewhere).
// Good enough for timing: the kernels' speed does not depend on the values.
void tame(std::vector<uint8_t>& b) {
  for (size_t i = 1; i < b.size(); i += 2) b[i] &= 0x3b;  // every 16-bit field becomes a modest f16
}

struct Result {
  std::string name;
  double bytes = 0, flops = 0;
  Span decode, prefill;  // seconds
};

// Chunks a thread takes of each kernel's extent; the runtime's thread pool takes about four.
int64_t g_chunks_per_thread = 4;

void call_chunks(Pool& pool, CpuKernelFn fn, void* const* args, const int64_t* scalars, int64_t extent, int64_t grain) {
  // split into equal multiples of `grain`, several per worker so that no worker idles at the end
  const int64_t pieces = pool.size() * g_chunks_per_thread;
  const int64_t per = std::max<int64_t>(grain, (extent / pieces + grain - 1) / grain * grain);
  std::atomic<int64_t> next{0};
  pool.run([&](int) {
    for (;;) {
      const int64_t b = next.fetch_add(per);
      if (b >= extent) return;
      fn(args, scalars, b, std::min(extent, b + per));
    }
  });
}

// The compute ceiling of each matrix-vector kernel: one thread, weights small enough to stay in
// L2, run many times; bytes per second of CPU time. A kernel can only keep up with memory if this
// is well above the read bandwidth per core.
void micro_matvec(const CpuTarget& target) {
  struct Case {
    DType dt;
    bool r16;
    int64_t rows, cols;
  };
  const Case cases[] = {{DType::Q4_K, true, 256, 2048}, {DType::Q6_K, true, 256, 2048}, {DType::Q8_0, true, 256, 2048},
                        {DType::Q5_0, true, 256, 2048}, {DType::Q4_K, false, 256, 2048}, {DType::Q6_K, false, 256, 2048},
                        {DType::Q8_0, false, 256, 2048}, {DType::Q5_0, false, 256, 2048}, {DType::F16, false, 256, 1024},
                        {DType::BF16, false, 256, 1024}, {DType::F32, false, 128, 1024}};
  std::vector<KernelSpec> specs;
  for (const Case& c : cases) {
    KernelSpec s;
    s.kind = KernelKind::Linear;
    s.weights = {wdesc(c.dt, c.rows, c.cols, c.r16)};
    specs.push_back(s);
  }
  auto mod = CpuModule::load(compile_cpu_kernels(specs, target), "bench");
  std::mt19937_64 rng(3);
  std::printf("\nmatrix-vector compute ceiling (1 thread, weights in L2, CPU time):\n");
  for (size_t i = 0; i < specs.size(); ++i) {
    const WeightDesc& w = specs[i].weights[0];
    const uint64_t bytes = *layout_bytes(w.layout, w.dtype, w.rows, w.cols);
    std::vector<uint8_t> wb = random_bytes(rng, bytes);
    tame(wb);
    std::vector<float> x(w.cols, 0.01f), out(w.rows);
    void* args[] = {x.data(), wb.data(), out.data()};
    const int64_t sc[2] = {1, 0};
    CpuKernelFn fn = mod->get(specs[i].name());
    fn(args, sc, 0, w.rows);
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      const int iters = 200;
      const double c0 = thread_cpu_now();
      for (int it = 0; it < iters; ++it) fn(args, sc, 0, w.rows);
      best = std::min(best, (thread_cpu_now() - c0) / iters);
    }
    std::printf("  %-9s %-9s %6.1f GB/s  %6.1f Gweights/s\n", dtype_name(w.dtype), layout_name(w.layout), bytes / best / 1e9,
                double(w.rows * w.cols) / best / 1e9);
  }
  // and the matrix-matrix kernels, T = 128, in GFLOP/s of one thread's CPU time
  std::printf("\nmatrix-matrix compute (1 thread, T = 128, weights in L2, CPU time; peak is 2 FMA or 2 vpdpbusd a cycle):\n");
  std::vector<KernelSpec> mm;
  for (const Case& c : cases) {
    if (!c.r16 && c.dt != DType::F16) continue;
    for (bool i8 : {false, true}) {
      if (i8 && !c.r16) continue;
      KernelSpec s;
      s.kind = KernelKind::Linear;
      s.weights = {wdesc(c.dt, c.rows, c.cols, c.r16)};
      s.int8_activations = i8;
      mm.push_back(s);
    }
  }
  auto mod2 = CpuModule::load(compile_cpu_kernels(mm, target), "bench");
  const int64_t T = 128;
  for (const KernelSpec& s : mm) {
    const WeightDesc& w = s.weights[0];
    std::vector<uint8_t> wb = random_bytes(rng, *layout_bytes(w.layout, w.dtype, w.rows, w.cols));
    tame(wb);
    std::vector<float> x(T * w.cols, 0.01f), out(T * w.rows);
    void* args[] = {x.data(), wb.data(), out.data()};
    const int64_t sc[2] = {T, 0};
    CpuKernelFn fn = mod2->get(s.name());
    fn(args, sc, 0, w.rows);
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      const double c0 = thread_cpu_now();
      for (int it = 0; it < 5; ++it) fn(args, sc, 0, w.rows);
      best = std::min(best, (thread_cpu_now() - c0) / 5);
    }
    std::printf("  %-9s %-9s %s %7.1f GFLOP/s\n", dtype_name(w.dtype), layout_name(w.layout), s.int8_activations ? "int8" : "f32 ",
                2.0 * double(w.rows * w.cols * T) / best / 1e9);
  }
}

KernelSpec attention_spec(const Shapes& m) {
  KernelSpec s;
  s.kind = KernelKind::Attention;
  s.heads = m.heads;
  s.kv_heads = m.kv_heads;
  s.head_dim = m.head_dim;
  s.scale = 1.0f / std::sqrt(float(m.head_dim));
  return s;
}

// Every distinct kernel of a Q4_K_M model of these shapes (llama.cpp gives attn_v and ffn_down
// Q6_K in some layers and Q4_K in the others, so those Linears come in two variants), compiled
// as `aprc compile` would: the time that a compile of that model spends on CPU code.
void compile_model(const Shapes& m, const CpuTarget& target, bool int8) {
  std::vector<KernelSpec> specs;
  for (bool variant : {false, true}) {
    for (auto& [name, s] : model_linears(m, true)) {
      KernelSpec v = s;
      v.int8_activations = int8;
      if (variant && name == "qkv") v.weights[2].dtype = v.weights[2].dtype == DType::Q6_K ? DType::Q4_K : DType::Q5_0;
      if (variant && name == "down") v.weights[0].dtype = m.inter % 256 == 0 ? DType::Q4_K : DType::Q5_0;
      specs.push_back(v);
    }
  }
  KernelSpec e;
  e.kind = KernelKind::Embedding;
  e.weights = {wdesc(m.hidden % 256 == 0 ? DType::Q4_K : DType::Q8_0, m.vocab, m.hidden, false)};
  e.cols = m.hidden;
  specs.push_back(e);
  KernelSpec n;
  n.kind = KernelKind::RmsNorm;
  n.cols = m.hidden;
  n.weights = {WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, m.hidden}};
  specs.push_back(n);
  KernelSpec kv;
  kv.kind = KernelKind::KvAppend;
  kv.rope = true;
  kv.kv_heads = m.kv_heads;
  kv.head_dim = m.head_dim;
  specs.push_back(kv);
  KernelSpec r = kv;
  r.kind = KernelKind::Rope;
  r.rope = false;
  r.heads = m.heads;
  r.kv_heads = 0;
  specs.push_back(r);
  specs.push_back(attention_spec(m));
  CpuCompileStats st;
  CpuCompileOptions opt;
  opt.stats = &st;
  const double t0 = now();
  auto so = compile_cpu_kernels(specs, target, nullptr, opt);
  std::printf("compile %s%s: %d kernels in %.2f s wall (generate %.2f, lower %.2f, O3 %.2f, emit %.2f, link %.2f), %.0f KB object\n",
              m.name, int8 ? " (int8 activations)" : "", st.kernels, now() - t0, st.generate_s, st.lower_s, st.optimize_s,
              st.codegen_s, st.link_s, st.object_bytes / 1024.0);
}

// Attention of one layer: decode (T = 1) at a context of `pos` positions, and prefill of T tokens
// from position 0; time per call and the share of a layer.
void bench_attention(Pool& pool, const Shapes& m, const CpuTarget& target, int64_t tokens, bool json) {
  const KernelSpec s = attention_spec(m);
  auto mod = CpuModule::load(compile_cpu_kernels({s}, target), "bench");
  CpuKernelFn fn = mod->get(s.name());
  const int64_t max_seq = 4096, kw = m.kv_heads * m.head_dim, qw = m.heads * m.head_dim;
  std::vector<float> ck(max_seq * kw, 0.01f), cv(max_seq * kw, 0.02f), q(tokens * qw, 0.03f), out(tokens * qw);
  void* args[] = {q.data(), ck.data(), cv.data(), out.data()};
  auto time = [&](int64_t T, int64_t pos) {
    const int64_t sc[2] = {T, pos};
    // chunks of whole kv groups: the heads that share K and V read them together
    const int64_t grain = m.heads / m.kv_heads;
    call_chunks(pool, fn, args, sc, m.heads, grain);
    double best = 1e30;
    for (int r = 0; r < 3; ++r) best = std::min(best, measure(pool, [&] { call_chunks(pool, fn, args, sc, m.heads, grain); }).first);
    return best;
  };
  const double dec_512 = time(1, 511), dec_2048 = time(1, 2047), pre = time(tokens, 0);
  // flops: q.k and p.v over the keys each query sees
  const double pre_flops = 4.0 * double(m.heads) * double(m.head_dim) * double(tokens) * double(tokens + 1) / 2;
  if (!json)
    std::printf("\nattention (%s, one layer): decode at 512 positions %.1f us, at 2048 %.1f us (%.1f GB/s of K and V); "
                "prefill T=%lld %.2f ms (%.1f GFLOP/s, %.1f us a token)\n",
                m.name, dec_512 * 1e6, dec_2048 * 1e6, 2.0 * 2048 * kw * 4 / dec_2048 / 1e9, (long long)tokens,
                pre * 1e3, pre_flops / pre / 1e9, pre / double(tokens) * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = int(std::thread::hardware_concurrency());
  int64_t tokens = 256;
  bool json = false, quick = false, micro = false, compile_only = false;
  std::string model = "0.5b";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--tokens" && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--json") json = true;
    else if (a == "--quick") quick = true;
    else if (a == "--micro") micro = true;
    else if (a == "--compile") compile_only = true;
    else if (a == "--chunks-per-thread" && i + 1 < argc) g_chunks_per_thread = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_cpu_kernels [--threads N] [--tokens T] [--model 0.5b|1.5b|7b] [--json] [--quick] [--micro] [--compile] [--chunks-per-thread N]\n");
      return 2;
    }
  }
  const Shapes* m = nullptr;
  for (const auto& s : kModels)
    if (model == s.name) m = &s;
  if (!m) {
    std::fprintf(stderr, "bench_cpu_kernels: unknown model '%s'\n", model.c_str());
    return 2;
  }
  if (compile_only) {
    compile_model(*m, host_cpu_target(), false);
    compile_model(*m, host_cpu_target(), true);
    return 0;
  }
  if (micro) {
    micro_matvec(host_cpu_target());
    return 0;
  }
  Pool pool(threads);
  // The roofline: the best read bandwidth seen before and after the kernels (other work on the
  // machine lowers it at times; taking the best keeps the ratios honest).
  Span bw = read_bandwidth(pool);
  const double mc = memcpy_bandwidth();
  if (!json)
    std::printf("memory: read %.1f GB/s (%d threads; %.1f GB/s by CPU time), memcpy %.1f GB/s (1 thread)\n"
                "figures below: wall clock | CPU time (the cores to ourselves), each against the read bandwidth measured the same way\n",
                bw.wall, threads, bw.cpu, mc);

  const CpuTarget target = host_cpu_target();
  std::vector<Result> results;
  // cpu_r16 f32, cpu_r16 with int8 activations (prefill only: decode is the f32 path), row_major
  for (int mode = 0; mode < 3; ++mode) {
    const bool r16 = mode < 2, int8 = mode == 1;
    auto lins = model_linears(*m, r16);
    std::vector<KernelSpec> specs;
    for (auto& l : lins) {
      l.second.int8_activations = int8;
      specs.push_back(l.second);
    }
    CpuCompileStats st;
    CpuCompileOptions opt;
    opt.stats = &st;
    auto mod = CpuModule::load(compile_cpu_kernels(specs, target, nullptr, opt), "bench");
    if (!json)
      std::printf("\n%s weights%s (%s): %d kernels compiled in %.2f s (generate %.2f, lower %.2f, O3 %.2f, emit %.2f, link %.2f)\n",
                  r16 ? "cpu_r16" : "row_major", int8 ? ", int8 activations" : "", m->name, st.kernels,
                  st.generate_s + st.lower_s + st.optimize_s + st.codegen_s + st.link_s, st.generate_s, st.lower_s,
                  st.optimize_s, st.codegen_s, st.link_s);
    std::mt19937_64 rng(7);
    for (auto& [name, s] : lins) {
      if (quick && name != "gate_up" && name != "down") continue;
      // enough copies of the weights to stream from memory (>= 384 MB), as a whole model would
      uint64_t wbytes = 0;
      for (auto& w : s.weights) wbytes += *layout_bytes(w.layout, w.dtype, w.rows, w.cols);
      const int copies = int(std::max<uint64_t>(2, (uint64_t(384) << 20) / wbytes + 1));
      std::vector<std::vector<std::vector<uint8_t>>> wcopies(copies);
      for (auto& c : wcopies)
        for (auto& w : s.weights) {
          c.push_back(random_bytes(rng, *layout_bytes(w.layout, w.dtype, w.rows, w.cols)));
          tame(c.back());
        }
      const int64_t K = s.weights[0].cols;
      int64_t extent = 0, out_rows = 0;
      for (auto& w : s.weights) extent += w.rows;
      if (s.epilogue != Epilogue::None) extent = out_rows = s.weights[0].rows;
      std::vector<float> x(tokens * K, 0.01f), gamma(K, 1.0f), resid;
      std::vector<std::vector<float>> biases, outs;
      for (auto& w : s.weights) {
        biases.emplace_back(w.rows, 0.5f);
        if (s.epilogue == Epilogue::None) outs.emplace_back(tokens * w.rows);
      }
      if (s.epilogue != Epilogue::None) outs.emplace_back(tokens * out_rows);
      if (s.epilogue == Epilogue::Residual) resid.assign(tokens * out_rows, 1.0f);
      auto args_for = [&](int copy) {
        std::vector<void*> a{x.data()};
        if (s.has_norm) a.push_back(gamma.data());
        if (s.epilogue == Epilogue::Residual) a.push_back(resid.data());
        for (auto& w : wcopies[copy]) a.push_back(w.data());
        if (!s.biases.empty())
          for (auto& b : biases) a.push_back(b.data());
        for (auto& o : outs) a.push_back(o.data());
        return a;
      };
      CpuKernelFn fn = mod->get(s.name());
      Result r;
      r.name = std::string(name) + (int8 ? " (int8)" : r16 ? "" : " (row_major)");
      r.bytes = double(wbytes);
      // decode: every copy once per round, best of rounds
      const int64_t dec_scalars[2] = {1, 0};
      for (int round = 0; round < (int8 ? 0 : quick ? 2 : 4); ++round) {
        auto [w, c] = measure(pool, [&] {
          for (int cp = 0; cp < copies; ++cp) {
            auto a = args_for(cp);
            call_chunks(pool, fn, a.data(), dec_scalars, extent, 16);
          }
        });
        r.decode.keep_best(w / copies, c / copies);
      }
      // prefill: T tokens on one copy
      const int64_t pre_scalars[2] = {tokens, 0};
      auto a = args_for(0);
      call_chunks(pool, fn, a.data(), pre_scalars, extent, 16);
      for (int round = 0; round < 2; ++round) {
        auto [w, c] = measure(pool, [&] { call_chunks(pool, fn, a.data(), pre_scalars, extent, 16); });
        r.prefill.keep_best(w, c);
      }
      int64_t macs = 0;
      for (auto& w : s.weights) macs += w.rows * w.cols;
      r.flops = 2.0 * double(macs) * double(tokens);
      if (int8) {
        // decode does not change with the option: reuse the f32 path's figure
        for (const Result& o : results)
          if (o.name == name) r.decode = o.decode;
      }
      results.push_back(r);
      if (!json)
        std::printf("  %-20s %6.1f MB  decode %6.1f | %5.1f GB/s = %3.0f%% | %3.0f%% of bw   prefill T=%lld %6.1f | %6.1f GFLOP/s, per token %5.1fx | %5.1fx faster than decode\n",
                    r.name.c_str(), r.bytes / 1e6, r.bytes / r.decode.wall / 1e9, r.bytes / r.decode.cpu / 1e9,
                    100 * r.bytes / r.decode.wall / 1e9 / bw.wall, 100 * r.bytes / r.decode.cpu / 1e9 / bw.cpu,
                    (long long)tokens, r.flops / r.prefill.wall / 1e9, r.flops / r.prefill.cpu / 1e9,
                    r.decode.wall / (r.prefill.wall / double(tokens)), r.decode.cpu / (r.prefill.cpu / double(tokens)));
    }
  }
  {
    const Span again = read_bandwidth(pool);
    if (again.wall > bw.wall || again.cpu > bw.cpu) {
      bw.wall = std::max(bw.wall, again.wall);
      bw.cpu = std::max(bw.cpu, again.cpu);
      if (!json)
        std::printf("\n(read bandwidth measured again after the kernels: %.1f GB/s; the whole-step figures below use "
                    "the best of the two)\n", again.wall);
    }
  }
  if (!json && !quick) {  // (--quick measures two Linears, not a model)
    double decode_step_s = 0;
    // The decode step of the whole model: the Linears of every layer plus the output head, at the
    // speeds measured above (row_major head: a tied head that the embedding shares stays row_major).
    for (int mode = 0; mode < 2; ++mode) {
      double bytes = 0, secs = 0, cpu = 0;
      for (const Result& r : results) {
        const bool head = r.name.rfind("lm_head", 0) == 0;
        const bool rm = r.name.find("(row_major)") != std::string::npos;
        if (r.name.find("(int8)") != std::string::npos) continue;
        if (head ? (mode == 0 ? rm : !rm) : rm) continue;
        const double times = head ? 1 : double(m->layers);
        bytes += times * r.bytes;
        secs += times * r.decode.wall;
        cpu += times * r.decode.cpu;
      }
      std::printf("decode step of the %s model's Linears (head %s): %.0f MB in %.2f ms = %.1f GB/s, %.0f%% of %.1f GB/s "
                  "(CPU time: %.0f%% of %.1f)\n",
                  m->name, mode == 0 ? "cpu_r16" : "row_major", bytes / 1e6, secs * 1e3, bytes / secs / 1e9,
                  100 * bytes / secs / 1e9 / bw.wall, bw.wall, 100 * bytes / cpu / 1e9 / bw.cpu, bw.cpu);
      if (mode == 0) decode_step_s = secs;
    }
    // Prefill per token: every layer's Linears at T tokens (the head runs once per prompt, for
    // the last position only, so it is left out), f32 and with int8 activations.
    for (int int8 = 0; int8 < 2; ++int8) {
      double secs = 0;
      for (const Result& r : results) {
        const bool is_int8 = r.name.find("(int8)") != std::string::npos;
        if (r.name.rfind("lm_head", 0) == 0 || r.name.find("(row_major)") != std::string::npos || is_int8 != bool(int8))
          continue;
        secs += double(m->layers) * r.prefill.wall / double(tokens);
      }
      std::printf("prefill per token of the %s model's Linears (%s, T=%lld): %.3f ms, %.1fx faster than the decode step\n",
                  m->name, int8 ? "int8 activations" : "f32", (long long)tokens, secs * 1e3, decode_step_s / secs);
    }
  }
  if (!quick) bench_attention(pool, *m, target, tokens, json);
  if (json) {
    std::printf("{\"read_bandwidth_gbs\": %.2f, \"read_bandwidth_cpu_gbs\": %.2f, \"memcpy_gbs\": %.2f, \"threads\": %d, \"tokens\": %lld, \"model\": \"%s\", \"linears\": [",
                bw.wall, bw.cpu, mc, threads, (long long)tokens, m->name);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("%s{\"name\": \"%s\", \"weight_bytes\": %.0f, \"decode_ms\": %.4f, \"decode_gbs\": %.2f, \"bandwidth_fraction\": %.3f, "
                  "\"decode_cpu_ms\": %.4f, \"bandwidth_fraction_cpu\": %.3f, \"prefill_gflops\": %.1f, \"prefill_cpu_gflops\": %.1f, "
                  "\"prefill_speedup_per_token\": %.2f}",
                  i ? ", " : "", r.name.c_str(), r.bytes, r.decode.wall * 1e3, r.bytes / r.decode.wall / 1e9,
                  r.bytes / r.decode.wall / 1e9 / bw.wall, r.decode.cpu * 1e3, r.bytes / r.decode.cpu / 1e9 / bw.cpu,
                  r.flops / r.prefill.wall / 1e9, r.flops / r.prefill.cpu / 1e9, r.decode.wall / (r.prefill.wall / double(tokens)));
    }
    std::printf("]}\n");
  }
  return 0;
}
