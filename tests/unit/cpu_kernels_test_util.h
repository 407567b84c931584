// Shared by the cpu_kernels_* tests: compiling specs for this machine, random inputs and weights,
// calling a kernel on chunks of its extent from two threads, and comparing with an fp64 reference.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "aprc/codegen/cpu_codegen.h"
#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"
#include "aprc/kernel_spec.h"
#include "cpu/cpu_module.h"

namespace aprc::test {

inline std::unique_ptr<CpuModule> compile_for_host(const std::vector<KernelSpec>& specs) {
  static const CpuTarget host = host_cpu_target();
  return CpuModule::load(compile_cpu_kernels(specs, host), "test kernels");
}

// This machine's target without the features in `drop` (code that still runs here, but takes the
// paths of a CPU that lacks them).
inline CpuTarget host_without(const std::vector<std::string>& drop) {
  CpuTarget t = host_cpu_target();
  std::erase_if(t.features, [&](const std::string& f) { return std::find(drop.begin(), drop.end(), f) != drop.end(); });
  return t;
}

// An AVX2 machine (x86-64-v3): this machine's target with every AVX-512 feature removed.
inline CpuTarget host_as_avx2() {
  CpuTarget t = host_cpu_target();
  std::erase_if(t.features, [](const std::string& f) { return f.rfind("avx512", 0) == 0 || f == "evex512"; });
  return t;
}

inline std::unique_ptr<CpuModule> compile_for(const CpuTarget& target, const std::vector<KernelSpec>& specs) {
  return CpuModule::load(compile_cpu_kernels(specs, target), "test kernels");
}

// Runs `body(target)` for this machine and for it posing as an AVX2 machine.
template <class F>
void on_each_target(F&& body) {
  const std::pair<const char*, CpuTarget> targets[] = {{"host", host_cpu_target()}, {"avx2", host_as_avx2()}};
  for (const auto& [name, target] : targets) {
    SCOPED_TRACE(name);
    body(target);
  }
}

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(gen); }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen); }
  uint8_t byte() { return uint8_t(integer(0, 255)); }
  // Non-zero values of both signs, magnitudes in [0.1, 1] * scale.
  float nonzero(double scale = 1.0) {
    const double m = uniform(0.1, 1.0) * scale;
    return float(integer(0, 1) ? m : -m);
  }
  std::vector<float> floats(size_t n, double scale = 1.0) {
    std::vector<float> v(n);
    for (auto& x : v) x = nonzero(scale);
    return v;
  }
  // Random f16 / bf16 bit patterns with exponents in a narrow range (finite, normal, non-zero).
  uint16_t f16(int exp_lo, int exp_hi, bool positive = false) {
    const uint16_t sign = positive ? 0 : uint16_t(integer(0, 1) << 15);
    return uint16_t(sign | (integer(exp_lo + 15, exp_hi + 15) << 10) | integer(0, 1023));
  }
  uint16_t bf16(int exp_lo, int exp_hi) {
    return uint16_t((integer(0, 1) << 15) | (integer(exp_lo + 127, exp_hi + 127) << 7) | integer(0, 127));
  }
};

inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32f(uint8_t* p, float v) { std::memcpy(p, &v, 4); }

// Row-major bytes of a random [rows, cols] weight of `dtype`: random codes, scales chosen so that
// the values are O(0.01 .. 1).
inline std::vector<uint8_t> random_weight(Rng& rng, DType dtype, int64_t rows, int64_t cols,
                                          ScaleGranularity scales = ScaleGranularity::PerChannel) {
  const int64_t shape[2] = {rows, cols};
  std::vector<uint8_t> b(*tensor_bytes(dtype, shape, scales));
  for (auto& x : b) x = rng.byte();
  const FormatInfo& f = format_info(dtype);
  const int64_t blocks = rows * cols / f.block_weights;
  auto block = [&](int64_t i) { return b.data() + i * f.block_bytes; };
  switch (dtype) {
    case DType::F32:
      for (int64_t i = 0; i < rows * cols; ++i) put32f(b.data() + 4 * i, rng.nonzero());
      break;
    case DType::F16:
      for (int64_t i = 0; i < rows * cols; ++i) put16(b.data() + 2 * i, rng.f16(-4, 0));
      break;
    case DType::BF16:
      for (int64_t i = 0; i < rows * cols; ++i) put16(b.data() + 2 * i, rng.bf16(-4, 0));
      break;
    case DType::Q8_0:
    case DType::Q5_0:
    case DType::AprQ4:
      for (int64_t i = 0; i < blocks; ++i) put16(block(i), rng.f16(-8, -5));
      break;
    case DType::Q4_K:
    case DType::Q5_K:
      for (int64_t i = 0; i < blocks; ++i) {
        put16(block(i), rng.f16(-10, -8));
        put16(block(i) + 2, rng.f16(-10, -8, true));
      }
      break;
    case DType::Q6_K:
      for (int64_t i = 0; i < blocks; ++i) put16(block(i) + 208, rng.f16(-12, -10));
      break;
    case DType::AprQ8:
      put32f(b.data(), float(rng.uniform(0.002, 0.01)));
      break;
    case DType::FP8_E4M3: {
      for (int64_t i = 0; i < rows * cols; ++i)
        while ((b[i] & 0x7f) == 0x7f) b[i] = rng.byte();  // no NaN codes
      const int64_t n = scales == ScaleGranularity::PerChannel ? rows : 1;
      for (int64_t r = 0; r < n; ++r) put32f(b.data() + rows * cols + 4 * r, float(rng.uniform(0.001, 0.01)));
      break;
    }
    default:
      ADD_FAILURE() << "random_weight: no generator for " << dtype_name(dtype);
  }
  return b;
}

// The weight's values (row-major), through the formats' own dequantizer.
inline std::vector<double> dequantized(const std::vector<uint8_t>& row_major, DType dtype, int64_t rows, int64_t cols,
                                       ScaleGranularity scales = ScaleGranularity::PerChannel) {
  TensorView v{dtype, {rows, cols}, row_major, scales};
  std::vector<float> f = dequantize(v);
  return std::vector<double>(f.begin(), f.end());
}

// max |out - ref| / max |ref|; +inf when any output is not finite.
inline double rel_error(const float* out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return std::numeric_limits<double>::infinity();
    num = std::max(num, std::abs(double(out[i]) - ref[i]));
    den = std::max(den, std::abs(ref[i]));
  }
  return den > 0 ? num / den : num;
}

inline void poison(std::vector<float>& v) { std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN()); }

// Calls `fn` on the whole extent [0, extent) split into uneven chunks (sizes 1, odd, multiples of
// `grain`, the rest), alternating between two threads.
inline void run_chunked(CpuKernelFn fn, const std::vector<void*>& args, std::vector<int64_t> scalars, int64_t extent,
                        uint64_t seed, int64_t grain = 1) {
  Rng rng(seed);
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t b = 0; b < extent;) {
    int64_t size;
    switch (chunks.size() % 4) {
      case 0: size = 1; break;
      case 1: size = rng.integer(1, 7) * grain; break;
      case 2: size = 2 * rng.integer(1, 9) + 1; break;
      default: size = rng.integer(1, std::max<int64_t>(1, extent / 3)); break;
    }
    const int64_t e = std::min(extent, b + size);
    chunks.push_back({b, e});
    b = e;
  }
  std::thread threads[2];
  for (int w = 0; w < 2; ++w)
    threads[w] = std::thread([&, w] {
      for (size_t i = w; i < chunks.size(); i += 2) fn(args.data(), scalars.data(), chunks[i].first, chunks[i].second);
    });
  for (auto& t : threads) t.join();
}

}  // namespace aprc::test
