// The reference semantics of every aprc op, in plain C++: fp32 values, fp64 accumulation in every
// reduction, weights dequantized a row at a time through formats/ (any layout). Written for
// clarity; this is the oracle the generated kernels are compared with. No MLIR here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"

namespace aprc::reference {

// Row-major [rows, cols] f32 values; a row per token.
struct Activation {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;

  Activation() = default;
  Activation(int64_t rows, int64_t cols) : rows(rows), cols(cols), data(static_cast<size_t>(rows * cols)) {}
  float* row(int64_t r) { return data.data() + r * cols; }
  const float* row(int64_t r) const { return data.data() + r * cols; }
};

// A weight's bytes in some layout: a matrix [out, in] or a vector [n] (one row).
struct Weight {
  TensorView view;
  WeightLayout layout = WeightLayout::RowMajor;

  int64_t rows() const { return view.rows(); }
  int64_t cols() const { return view.cols(); }
  // Dequantizes row r into out[cols()].
  void row(int64_t r, float* out) const;
  // Every value, dequantized (for vectors: gammas and biases).
  std::vector<float> values() const;
};

// One layer's cache: keys and values of kv_heads * head_dim columns for positions [0, length).
struct KvCache {
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_seq = 0;
  int64_t length = 0;
  std::vector<float> k, v;  // [length, kv_heads * head_dim]

  int64_t width() const { return kv_heads * head_dim; }
};

// result[t] = table[ids[t]]. An id outside the table is BadInput.
Activation embedding(std::span<const int32_t> ids, const Weight& table);

// result[t] = x[t] / sqrt(mean(x[t]^2) + eps) * gamma.
Activation rms_norm(const Activation& x, const Weight& gamma, double eps);

// result = x @ W^T (+ bias).
Activation linear(const Activation& x, const Weight& w, const Weight* bias);

// NeoX rotate-half rope of each head of `head_dim` columns; row t is at position pos + t.
Activation rope(const Activation& x, int64_t pos, int64_t head_dim, double theta);

// Writes k and v rows at positions pos, pos+1, ...; the cache then holds [0, pos + rows). Writing
// past the end of what it holds (a gap) or past max_seq is BadInput.
void kv_append(KvCache& cache, const Activation& k, const Activation& v, int64_t pos);

// Causal grouped-query attention: row t of q (position pos + t, heads = q.cols / head_dim) over
// cache positions [0, pos + t]; query head h reads kv head h / (heads / kv_heads).
Activation attention(const Activation& q, const KvCache& cache, int64_t pos, double scale);

Activation silu(const Activation& x);
Activation mul(const Activation& a, const Activation& b);
Activation add(const Activation& a, const Activation& b);

// Dynamic per-token fp8 activations (aprc.fp8_per_token_activations): each row, times 1/scale with
// the scale max|row| / 448, as two e4m3 terms, then dequantized (formats.h, fp8_per_token_row), so
// that a product with it is the sum of the products of each term's fp8 codes times both scales.
Activation fp8_per_token(const Activation& x);

// The last row of x (what `logits last_only` projects).
Activation last_row(const Activation& x);

}  // namespace aprc::reference
