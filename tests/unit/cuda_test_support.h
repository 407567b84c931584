// Helpers for the CUDA kernel tests: random weights of every format (random bits with sane scales, so
// every code path of a format is hit), float vectors in f32/f16/bf16, and plain double-precision CPU
// references of every kernel kind, written from kernel_spec.h independently of the CUDA code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aprc/kernel_spec.h"

namespace aprc::cuda::test {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  float sym(float a = 1.f) { return static_cast<float>((2 * uniform() - 1) * a); }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }

 private:
  uint64_t s_;
};

uint16_t to_f16(float f);   // round to nearest even
uint16_t to_bf16(float f);  // round to nearest even
float round_to(DType d, float f);  // f32 -> d -> f32 (d: f32, f16, bf16)

// Random row_major bytes of a [rows, cols] weight of `dtype`.
std::vector<uint8_t> random_weight(DType dtype, int64_t rows, int64_t cols, Rng& rng,
                                   ScaleGranularity scales = ScaleGranularity::PerChannel);

// A 1-D float vector stored as `dtype` (f32/f16/bf16): its bytes and the exact values they hold.
struct FloatVec {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
FloatVec random_vec(DType dtype, int64_t n, Rng& rng, float lo, float hi);

std::vector<float> random_floats(int64_t n, Rng& rng, float amplitude);

// A weight for a test: its description, its bytes in the target layout, its dequantized values.
struct TestWeight {
  WeightDesc desc;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // [rows * cols]
};
TestWeight make_weight(DType dtype, WeightLayout layout, int64_t rows, int64_t cols, Rng& rng,
                       ScaleGranularity scales = ScaleGranularity::PerChannel);

// Dynamic per-token fp8 activations, as the reference interpreter's fp8_per_token: each of the T rows
// of K values through fp8_per_token_row (formats.h), in place.
void fp8_per_token(std::vector<float>& x, int64_t T, int64_t K);

// max |a - b| / max |ref|; +inf if anything is NaN or the sizes differ.
double rel_error(const std::vector<float>& got, const std::vector<float>& ref);

// References (double accumulation).
std::vector<float> ref_rms_norm(const std::vector<float>& x, int64_t T, int64_t H, const std::vector<float>& gamma,
                                double eps);
// outputs of a Linear spec (one vector per output of the kind's argument list); with
// spec.fp8_activations, each row of the (normalized) input is first quantized to two e4m3 terms with
// the scale max|row| / 448, as the reference interpreter's fp8_per_token does
std::vector<std::vector<float>> ref_linear(const KernelSpec& spec, const std::vector<float>& x, int64_t T,
                                           const std::vector<const TestWeight*>& w, const std::vector<float>* gamma,
                                           const std::vector<std::vector<float>>& biases,
                                           const std::vector<float>* residual);
void ref_rope(std::vector<float>& x, int64_t T, int64_t heads, int64_t hd, int64_t pos, double theta);
// q: [T, heads*hd]; keys/values: rows [0, pos+T) of [kv_heads*hd] (as stored in the cache)
std::vector<float> ref_attention(const std::vector<float>& q, int64_t T, int64_t pos, int64_t heads, int64_t kv_heads,
                                 int64_t hd, double scale, const std::vector<float>& keys,
                                 const std::vector<float>& values);

}  // namespace aprc::cuda::test
