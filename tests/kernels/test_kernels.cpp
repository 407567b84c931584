// TEST SCAFFOLDING ONLY: a shared object of plain, unoptimized kernels with the CPU kernel ABI, so
// that the CPU executor (thread pool, argument binding, arenas, KV cache, chunked prefill, decode)
// can be tested before the MLIR kernel generator exists. Real plans carry generated kernels; these
// never ship. Dimensions come in as scalars (generated kernels bake them in); each kernel's scalars
// start with T, as the ABI requires. Weights are any row format, read through aprc::dequantize_rows.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "aprc/formats/formats.h"

namespace {

constexpr double kEps = 1e-6;
constexpr double kTheta = 1e6;

using Args = void* const*;
using Scalars = const int64_t*;

float* f32(Args a, int i) { return static_cast<float*>(a[i]); }

// Row n of an [N, K] weight of `dtype`, as floats.
void weight_row(const void* w, aprc::DType dtype, int64_t N, int64_t K, int64_t n, float* out) {
  const uint64_t bytes = *aprc::tensor_bytes(dtype, std::vector<int64_t>{N, K});
  aprc::TensorView view{dtype, {N, K}, std::span<const uint8_t>(static_cast<const uint8_t*>(w), bytes)};
  aprc::dequantize_rows(view, n, n + 1, out);
}

void linear(Args a, Scalars s, int64_t begin, int64_t end, bool bias) {
  const int64_t T = s[0], K = s[1], N = s[2];
  const auto dtype = static_cast<aprc::DType>(s[3]);
  const float* x = f32(a, 0);
  const float* b = bias ? f32(a, 2) : nullptr;
  float* out = f32(a, bias ? 3 : 2);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = begin; n < end; ++n) {
    weight_row(a[1], dtype, N, K, n, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double acc = b ? b[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += double(x[t * K + k]) * row[k];
      out[t * N + n] = static_cast<float>(acc);
    }
  }
}

}  // namespace

extern "C" {

// args: ids (i32[T]), table [V, H]; out [T, H].  scalars: T, H, V, dtype.  extent: T
void test_embedding(Args a, Scalars s, int64_t begin, int64_t end) {
  const int32_t* ids = static_cast<const int32_t*>(a[0]);
  for (int64_t t = begin; t < end; ++t)
    weight_row(a[1], static_cast<aprc::DType>(s[3]), s[2], s[1], ids[t], f32(a, 2) + t * s[1]);
}

// args: x [T, H], gamma (f32 [H]), out [T, H].  scalars: T, H.  extent: T
void test_rms_norm(Args a, Scalars s, int64_t begin, int64_t end) {
  const int64_t H = s[1];
  for (int64_t t = begin; t < end; ++t) {
    const float* x = f32(a, 0) + t * H;
    double ss = 0;
    for (int64_t i = 0; i < H; ++i) ss += double(x[i]) * x[i];
    const double inv = 1.0 / std::sqrt(ss / H + kEps);
    for (int64_t i = 0; i < H; ++i) f32(a, 2)[t * H + i] = static_cast<float>(x[i] * inv * f32(a, 1)[i]);
  }
}

// args: x [T, K], W [N, K], out [T, N].  scalars: T, K, N, dtype.  extent: N
void test_linear(Args a, Scalars s, int64_t begin, int64_t end) { linear(a, s, begin, end, false); }
// args: x [T, K], W [N, K], b (f32 [N]), out [T, N].  scalars: T, K, N, dtype.  extent: N
void test_linear_bias(Args a, Scalars s, int64_t begin, int64_t end) { linear(a, s, begin, end, true); }

// In place NeoX RoPE.  args: x [T, heads * hd].  scalars: T, pos, heads, hd.  extent: T
void test_rope(Args a, Scalars s, int64_t begin, int64_t end) {
  const int64_t pos = s[1], heads = s[2], hd = s[3], half = hd / 2;
  for (int64_t t = begin; t < end; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      float* v = f32(a, 0) + (t * heads + h) * hd;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(pos + t) * std::pow(kTheta, -2.0 * i / hd);
        const double x0 = v[i], x1 = v[i + half];
        v[i] = static_cast<float>(x0 * std::cos(angle) - x1 * std::sin(angle));
        v[i + half] = static_cast<float>(x1 * std::cos(angle) + x0 * std::sin(angle));
      }
    }
}

// args: k [T, D], v [T, D], cache_k, cache_v ([position][D]).  scalars: T, pos, D.  extent: T
void test_kv_append(Args a, Scalars s, int64_t begin, int64_t end) {
  const int64_t pos = s[1], D = s[2];
  for (int64_t t = begin; t < end; ++t) {
    std::memcpy(f32(a, 2) + (pos + t) * D, f32(a, 0) + t * D, D * sizeof(float));
    std::memcpy(f32(a, 3) + (pos + t) * D, f32(a, 1) + t * D, D * sizeof(float));
  }
}

// Causal GQA.  args: q [T, heads * hd], cache_k, cache_v, out [T, heads * hd].
// scalars: T, pos, heads, kv_heads, hd.  extent: heads
void test_attention(Args a, Scalars s, int64_t begin, int64_t end) {
  const int64_t T = s[0], pos = s[1], heads = s[2], kv_heads = s[3], hd = s[4];
  const float* q = f32(a, 0);
  const float* ck = f32(a, 1);
  const float* cv = f32(a, 2);
  float* out = f32(a, 3);
  const double scale = 1.0 / std::sqrt(double(hd));
  std::vector<double> w(static_cast<size_t>(pos + T));
  for (int64_t h = begin; h < end; ++h) {
    const int64_t g = h / (heads / kv_heads);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t n = pos + t + 1;
      double max = -1e300, sum = 0;
      for (int64_t p = 0; p < n; ++p) {
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += double(q[(t * heads + h) * hd + i]) * ck[(p * kv_heads + g) * hd + i];
        w[p] = dot * scale;
        max = std::max(max, w[p]);
      }
      for (int64_t p = 0; p < n; ++p) sum += (w[p] = std::exp(w[p] - max));
      for (int64_t i = 0; i < hd; ++i) {
        double acc = 0;
        for (int64_t p = 0; p < n; ++p) acc += w[p] * cv[(p * kv_heads + g) * hd + i];
        out[(t * heads + h) * hd + i] = static_cast<float>(acc / sum);
      }
    }
  }
}

// out = x + y.  args: x, y, out [T, n].  scalars: T, n.  extent: T
void test_add(Args a, Scalars s, int64_t begin, int64_t end) {
  for (int64_t i = begin * s[1]; i < end * s[1]; ++i) f32(a, 2)[i] = f32(a, 0)[i] + f32(a, 1)[i];
}

// out = silu(g) * u.  args: g, u, out [T, n].  scalars: T, n.  extent: T
void test_swiglu(Args a, Scalars s, int64_t begin, int64_t end) {
  for (int64_t i = begin * s[1]; i < end * s[1]; ++i) {
    const double g = f32(a, 0)[i];
    f32(a, 2)[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * f32(a, 1)[i]);
  }
}

}  // extern "C"
