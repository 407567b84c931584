#include "cuda_test_support.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"
#include "aprc/formats/layouts.h"
#include "synthetic_weights.h"

namespace aprc::cuda::test {

uint16_t to_f16(float f) { return synthetic::f32_to_f16_bits(f); }
uint16_t to_bf16(float f) { return synthetic::f32_to_bf16_bits(f); }

float round_to(DType d, float f) {
  if (d == DType::F16) return aprc_f16_to_f32(to_f16(f));
  if (d == DType::BF16) return aprc_bf16_to_f32(to_bf16(f));
  return f;
}

std::vector<uint8_t> random_weight(DType dtype, int64_t rows, int64_t cols, Rng& rng, ScaleGranularity scales) {
  return synthetic::random_row_major(dtype, rows, cols, rng.next(), scales);
}

FloatVec random_vec(DType dtype, int64_t n, Rng& rng, float lo, float hi) {
  FloatVec v;
  for (int64_t i = 0; i < n; ++i) {
    const float x = lo + (hi - lo) * static_cast<float>(rng.uniform());
    if (dtype == DType::F32) {
      v.values.push_back(x);
      v.bytes.insert(v.bytes.end(), reinterpret_cast<const uint8_t*>(&x), reinterpret_cast<const uint8_t*>(&x) + 4);
    } else {
      const uint16_t h = dtype == DType::F16 ? to_f16(x) : to_bf16(x);
      v.values.push_back(dtype == DType::F16 ? aprc_f16_to_f32(h) : aprc_bf16_to_f32(h));
      v.bytes.push_back(static_cast<uint8_t>(h));
      v.bytes.push_back(static_cast<uint8_t>(h >> 8));
    }
  }
  return v;
}

std::vector<float> random_floats(int64_t n, Rng& rng, float amplitude) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = rng.sym(amplitude);
  return v;
}

TestWeight make_weight(DType dtype, WeightLayout layout, int64_t rows, int64_t cols, Rng& rng,
                       ScaleGranularity scales) {
  TestWeight w;
  w.desc = {dtype, layout, scales, rows, cols};
  const std::vector<uint8_t> row_major = random_weight(dtype, rows, cols, rng, scales);
  const TensorView rm{dtype, {rows, cols}, row_major, scales};
  w.values = dequantize(rm);
  w.bytes = repack(layout, rm);
  return w;
}

void fp8_per_token(std::vector<float>& x, int64_t T, int64_t K) {
  for (int64_t t = 0; t < T; ++t) fp8_per_token_row(x.data() + t * K, K);
}

double rel_error(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size() || ref.empty()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(got[i]) || std::isnan(ref[i]) || std::isinf(got[i])) return std::numeric_limits<double>::infinity();
    num = std::max(num, std::fabs(double(got[i]) - ref[i]));
    den = std::max(den, std::fabs(double(ref[i])));
  }
  return den > 0 ? num / den : num;
}

std::vector<float> ref_rms_norm(const std::vector<float>& x, int64_t T, int64_t H, const std::vector<float>& gamma,
                                double eps) {
  std::vector<float> out(x.size());
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < H; ++i) ss += double(x[t * H + i]) * x[t * H + i];
    const double inv = 1.0 / std::sqrt(ss / H + eps);
    for (int64_t i = 0; i < H; ++i) out[t * H + i] = static_cast<float>(x[t * H + i] * inv * gamma[i]);
  }
  return out;
}

std::vector<std::vector<float>> ref_linear(const KernelSpec& spec, const std::vector<float>& x, int64_t T,
                                           const std::vector<const TestWeight*>& w, const std::vector<float>* gamma,
                                           const std::vector<std::vector<float>>& biases,
                                           const std::vector<float>* residual) {
  const int64_t K = w[0]->desc.cols;
  std::vector<float> in = spec.has_norm ? ref_rms_norm(x, T, K, *gamma, spec.eps) : x;
  if (spec.fp8_activations) fp8_per_token(in, T, K);
  std::vector<std::vector<double>> dots;
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t N = w[i]->desc.rows;
    std::vector<double> d(static_cast<size_t>(T * N));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += double(in[t * K + k]) * w[i]->values[n * K + k];
        if (!biases.empty()) s += biases[i][n];
        d[t * N + n] = s;
      }
    dots.push_back(std::move(d));
  }
  std::vector<std::vector<float>> out;
  if (spec.epilogue == Epilogue::SwiGLU) {
    std::vector<float> o(dots[0].size());
    for (size_t i = 0; i < o.size(); ++i) o[i] = static_cast<float>(dots[0][i] / (1 + std::exp(-dots[0][i])) * dots[1][i]);
    out.push_back(std::move(o));
  } else if (spec.epilogue == Epilogue::Residual) {
    std::vector<float> o(dots[0].size());
    for (size_t i = 0; i < o.size(); ++i) o[i] = static_cast<float>((*residual)[i] + dots[0][i]);
    out.push_back(std::move(o));
  } else {
    for (auto& d : dots) out.emplace_back(d.begin(), d.end());
  }
  return out;
}

void ref_rope(std::vector<float>& x, int64_t T, int64_t heads, int64_t hd, int64_t pos, double theta) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i) {
        const double ang = double(pos + t) * std::pow(theta, -2.0 * double(i) / double(hd));
        float* v = &x[(t * heads + h) * hd];
        const double x0 = v[i], x1 = v[i + hd / 2];
        v[i] = static_cast<float>(x0 * std::cos(ang) - x1 * std::sin(ang));
        v[i + hd / 2] = static_cast<float>(x1 * std::cos(ang) + x0 * std::sin(ang));
      }
}

std::vector<float> ref_attention(const std::vector<float>& q, int64_t T, int64_t pos, int64_t heads, int64_t kv_heads,
                                 int64_t hd, double scale, const std::vector<float>& keys,
                                 const std::vector<float>& values) {
  std::vector<float> out(static_cast<size_t>(T * heads * hd));
  const int64_t G = heads / kv_heads, row = kv_heads * hd;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / G, L = pos + t + 1;
      std::vector<double> s(static_cast<size_t>(L));
      double mx = -1e300;
      for (int64_t j = 0; j < L; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e) d += double(q[(t * heads + h) * hd + e]) * keys[j * row + kvh * hd + e];
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int64_t e = 0; e < hd; ++e) {
        double o = 0;
        for (int64_t j = 0; j < L; ++j) o += s[j] * values[j * row + kvh * hd + e];
        out[(t * heads + h) * hd + e] = static_cast<float>(o / sum);
      }
    }
  return out;
}

}  // namespace aprc::cuda::test
