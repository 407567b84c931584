#include "exec/peak_flops.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace aprc {
namespace {

constexpr int kChains = 12;  // independent accumulators: more than FMA latency x FMA ports
constexpr int64_t kIterations = 1 << 20;  // a chunk of work: about a millisecond

// Adds every lane of the chains' accumulators to *sink: the sums are never 0, which keeps the
// compiler from removing the loops (measure_peak_gflops checks it).
template <typename Vec>
void sink_lanes(const Vec (&acc)[kChains], float* sink) {
  for (const Vec& v : acc) {
    float lanes[sizeof(Vec) / sizeof(float)];
    std::memcpy(lanes, &v, sizeof v);
    for (float l : lanes) *sink += l;
  }
}

#if defined(__x86_64__)
// Each returns the flops it did.
__attribute__((target("avx512f"))) double fma512(float seed, float* sink) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  sink_lanes(acc, sink);
  return 2.0 * 16 * kChains * static_cast<double>(kIterations);
}

// bf16 pairs dotted into fp32 lanes (what the CPU kernels' bf16 readers run): 32 products and 32
// sums an instruction.
__attribute__((target("avx512f,avx512bf16"))) double dot_bf16(float seed, float* sink) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + static_cast<float>(c));
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, ~6e-8
  for (int64_t i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
  sink_lanes(acc, sink);
  return 2.0 * 32 * kChains * static_cast<double>(kIterations);
}

__attribute__((target("avx2,fma"))) double fma256(float seed, float* sink) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  sink_lanes(acc, sink);
  return 2.0 * 8 * kChains * static_cast<double>(kIterations);
}
#endif

// Portable: a multiply and an add (2 flops) per lane, 4 lanes as the compiler vectorizes them.
double mul_add(float seed, float* sink) {
  float acc[kChains][4];
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < 4; ++l) acc[c][l] = seed + static_cast<float>(c + l);
  for (int64_t i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c)
      for (int l = 0; l < 4; ++l) acc[c][l] = acc[c][l] * 0.999999f + 1e-7f;
  sink_lanes(acc, sink);
  return 2.0 * 4 * kChains * static_cast<double>(kIterations);
}

using Loop = double (*)(float, float*);

// The loops this CPU can run: the widest fp32 one, and bf16 dot products where it has them.
std::vector<Loop> loops() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    if (__builtin_cpu_supports("avx512bf16")) return {fma512, dot_bf16};
    return {fma512};
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {fma256};
#endif
  return {mul_add};
}

}  // namespace

double measure_peak_gflops(ThreadPool& pool) {
  const int64_t threads = static_cast<int64_t>(pool.size());
  double best = 0;
  for (Loop loop : loops()) {
    for (int pass = 0; pass < 3; ++pass) {
      std::atomic<int64_t> flops{0};
      std::atomic<uint32_t> sink{0};
      const auto start = std::chrono::steady_clock::now();
      // Many chunks, so that a thread that wakes late does not hold the others up.
      pool.parallel_for(threads * 32, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          float s = 0;
          flops += static_cast<int64_t>(loop(static_cast<float>(t), &s));
          sink += static_cast<uint32_t>(s != 0);
        }
      });
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (sink.load() == 0) return 0;  // the sums are never 0: keeps the loops from being removed
      best = std::max(best, static_cast<double>(flops.load()) / seconds / 1e9);
    }
  }
  return best;
}

}  // namespace aprc
