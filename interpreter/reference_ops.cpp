#include "aprc/interpreter/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "aprc/error.h"

namespace aprc::reference {
namespace {

void check_same_shape(const Activation& a, const Activation& b, const char* op) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw_internal(std::string(op) + ": operands of [" + std::to_string(a.rows) + ", " + std::to_string(a.cols) +
                   "] and [" + std::to_string(b.rows) + ", " + std::to_string(b.cols) + "]");
}

double dot(const float* a, const float* b, int64_t n) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return acc;
}

}  // namespace

void Weight::row(int64_t r, float* out) const { dequantize_rows_in_layout(layout, view, r, r + 1, out); }

std::vector<float> Weight::values() const {
  std::vector<float> out(static_cast<size_t>(rows() * cols()));
  dequantize_rows_in_layout(layout, view, 0, rows(), out.data());
  return out;
}

Activation embedding(std::span<const int32_t> ids, const Weight& table) {
  Activation out(static_cast<int64_t>(ids.size()), table.cols());
  for (int64_t t = 0; t < out.rows; ++t) {
    const int32_t id = ids[t];
    if (id < 0 || id >= table.rows())
      throw_bad_input("token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(table.rows()) + " tokens");
    table.row(id, out.row(t));
  }
  return out;
}

Activation rms_norm(const Activation& x, const Weight& gamma, double eps) {
  const std::vector<float> g = gamma.values();
  Activation out(x.rows, x.cols);
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* in = x.row(t);
    const double mean_square = dot(in, in, x.cols) / static_cast<double>(x.cols);
    const double scale = 1.0 / std::sqrt(mean_square + eps);
    float* o = out.row(t);
    for (int64_t i = 0; i < x.cols; ++i) o[i] = static_cast<float>(in[i] * scale * g[i]);
  }
  return out;
}

Activation linear(const Activation& x, const Weight& w, const Weight* bias) {
  if (x.cols != w.cols())
    throw_internal("linear: input of " + std::to_string(x.cols) + " columns, weight of " + std::to_string(w.cols()));
  const std::vector<float> b = bias ? bias->values() : std::vector<float>(static_cast<size_t>(w.rows()), 0.0f);
  Activation out(x.rows, w.rows());
  // Weight row after weight row, so that each row is dequantized once for all tokens.
  std::vector<float> w_row(static_cast<size_t>(w.cols()));
  for (int64_t o = 0; o < w.rows(); ++o) {
    w.row(o, w_row.data());
    for (int64_t t = 0; t < x.rows; ++t)
      out.row(t)[o] = static_cast<float>(dot(x.row(t), w_row.data(), x.cols) + b[o]);
  }
  return out;
}

Activation rope(const Activation& x, int64_t pos, int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2;
  Activation out(x.rows, x.cols);
  for (int64_t t = 0; t < x.rows; ++t) {
    const double position = static_cast<double>(pos + t);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = position * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
      const double c = std::cos(angle), s = std::sin(angle);
      for (int64_t head = 0; head < x.cols / head_dim; ++head) {
        const int64_t first = head * head_dim + i, second = first + half;
        const double x0 = x.row(t)[first], x1 = x.row(t)[second];
        out.row(t)[first] = static_cast<float>(x0 * c - x1 * s);
        out.row(t)[second] = static_cast<float>(x0 * s + x1 * c);
      }
    }
  }
  return out;
}

void kv_append(KvCache& cache, const Activation& k, const Activation& v, int64_t pos) {
  check_same_shape(k, v, "kv_append");
  if (k.cols != cache.width())
    throw_internal("kv_append: rows of " + std::to_string(k.cols) + " into a cache of " + std::to_string(cache.width()));
  if (pos < 0 || pos > cache.length)
    throw_bad_input("kv_append at position " + std::to_string(pos) + ", but the cache holds positions [0, " +
                    std::to_string(cache.length) + ") (positions must follow without a gap)");
  const int64_t end = pos + k.rows;
  if (end > cache.max_seq)
    throw_bad_input("kv_append up to position " + std::to_string(end) + " runs past the cache's " +
                    std::to_string(cache.max_seq) + " positions");
  const size_t used = static_cast<size_t>(end * cache.width());
  cache.k.resize(used);
  cache.v.resize(used);
  std::copy(k.data.begin(), k.data.end(), cache.k.begin() + pos * cache.width());
  std::copy(v.data.begin(), v.data.end(), cache.v.begin() + pos * cache.width());
  cache.length = end;
}

Activation attention(const Activation& q, const KvCache& cache, int64_t pos, double scale) {
  const int64_t hd = cache.head_dim;
  const int64_t heads = q.cols / hd;
  const int64_t group = heads / cache.kv_heads;
  if (pos < 0 || pos + q.rows > cache.length)
    throw_bad_input("attention over positions up to " + std::to_string(pos + q.rows) + ", but the cache holds " +
                    std::to_string(cache.length));
  Activation out(q.rows, q.cols);
  std::vector<double> weights;
  for (int64_t t = 0; t < q.rows; ++t) {
    const int64_t visible = pos + t + 1;  // positions [0, pos + t]
    weights.assign(static_cast<size_t>(visible), 0.0);
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q.row(t) + h * hd;
      const int64_t kv_offset = (h / group) * hd;
      double max_score = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        weights[j] = scale * dot(qh, cache.k.data() + j * cache.width() + kv_offset, hd);
        max_score = std::max(max_score, weights[j]);
      }
      double total = 0;
      for (int64_t j = 0; j < visible; ++j) total += weights[j] = std::exp(weights[j] - max_score);
      float* o = out.row(t) + h * hd;
      for (int64_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < visible; ++j) acc += weights[j] * cache.v[j * cache.width() + kv_offset + d];
        o[d] = static_cast<float>(acc / total);
      }
    }
  }
  return out;
}

Activation silu(const Activation& x) {
  Activation out(x.rows, x.cols);
  for (size_t i = 0; i < x.data.size(); ++i) {
    const double v = x.data[i];
    out.data[i] = static_cast<float>(v / (1.0 + std::exp(-v)));
  }
  return out;
}

Activation mul(const Activation& a, const Activation& b) {
  check_same_shape(a, b, "mul");
  Activation out(a.rows, a.cols);
  for (size_t i = 0; i < a.data.size(); ++i) out.data[i] = a.data[i] * b.data[i];
  return out;
}

Activation add(const Activation& a, const Activation& b) {
  check_same_shape(a, b, "add");
  Activation out(a.rows, a.cols);
  for (size_t i = 0; i < a.data.size(); ++i) out.data[i] = a.data[i] + b.data[i];
  return out;
}

Activation fp8_per_token(const Activation& x) {
  Activation out = x;
  for (int64_t t = 0; t < x.rows; ++t) fp8_per_token_row(out.row(t), x.cols);
  return out;
}

Activation last_row(const Activation& x) {
  if (x.rows == 0) throw_bad_input("logits last_only of zero tokens");
  Activation out(1, x.cols);
  std::copy(x.row(x.rows - 1), x.row(x.rows - 1) + x.cols, out.data.begin());
  return out;
}

}  // namespace aprc::reference
