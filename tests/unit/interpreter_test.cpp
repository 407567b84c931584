// The reference interpreter on synthetic models: against an independent double-precision forward
// pass written here from the Qwen2 equations, prefill + decode against recomputation, and fused
// modules against the original ones.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <functional>
#include <optional>
#include <map>
#include <random>
#include <regex>

#include "aprc/error.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "ir_fused_module.h"
#include "ir_test_model.h"

namespace aprc {
namespace {

using reference::Activation;
using reference::Interpreter;
using reference::ModelWeights;
using testing::make_test_model;
using testing::random_ids;
using testing::TestModelSpec;
using Matrix = std::vector<std::vector<double>>;

// --- an independent forward pass: whole tensors dequantized up front, double everywhere -------

Matrix weights_of(const Model& m, const TensorRef& t) {
  const std::vector<float> flat = dequantize(t.view());
  const int64_t cols = t.shape.back(), rows = static_cast<int64_t>(flat.size()) / cols;
  Matrix w(rows, std::vector<double>(cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[r][c] = flat[r * cols + c];
  return w;
}

std::vector<double> vector_of(const Model& m, const std::string& name) { return weights_of(m, m.tensor(name))[0]; }

Matrix project(const Matrix& x, const Matrix& w, const std::vector<double>* bias) {
  Matrix y(x.size(), std::vector<double>(w.size()));
  for (size_t t = 0; t < x.size(); ++t)
    for (size_t o = 0; o < w.size(); ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (size_t i = 0; i < w[o].size(); ++i) s += x[t][i] * w[o][i];
      y[t][o] = s;
    }
  return y;
}

Matrix normalize(const Matrix& x, const std::vector<double>& gamma, double eps) {
  Matrix y = x;
  for (auto& row : y) {
    double ss = 0;
    for (double v : row) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / row.size() + eps);
    for (size_t i = 0; i < row.size(); ++i) row[i] *= inv * gamma[i];
  }
  return y;
}

// Rotate-half as a complex rotation of (x[i], x[i + d/2]) by p * theta^(-2i/d).
void rotate(Matrix& x, int64_t head_dim, double theta) {
  for (size_t p = 0; p < x.size(); ++p)
    for (size_t base = 0; base < x[p].size(); base += head_dim)
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        const std::complex<double> z(x[p][base + i], x[p][base + i + head_dim / 2]);
        const std::complex<double> r = z * std::polar(1.0, p * std::pow(theta, -2.0 * i / head_dim));
        x[p][base + i] = r.real();
        x[p][base + i + head_dim / 2] = r.imag();
      }
}

// Logits [T][vocab] of every position of `ids`, computed on the whole sequence at once.
Matrix naive_forward(const Model& m, const std::vector<int32_t>& ids) {
  const ModelConfig& c = m.config;
  const int64_t T = static_cast<int64_t>(ids.size()), hd = c.head_dim;
  const Matrix embed = weights_of(m, m.tensor(names::embed_tokens()));
  Matrix x;
  for (int32_t id : ids) x.push_back(embed[id]);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    auto W = [&](const char* rest) { return weights_of(m, m.tensor(names::layer(l, rest))); };
    auto B = [&](const char* rest) -> std::optional<std::vector<double>> {
      if (!m.find(names::layer(l, rest))) return std::nullopt;
      return vector_of(m, names::layer(l, rest));
    };
    auto proj = [&](const Matrix& in, const char* w, const char* b) {
      const auto bias = B(b);
      return project(in, W(w), bias ? &*bias : nullptr);
    };
    const Matrix h = normalize(x, vector_of(m, names::layer(l, "input_layernorm.weight")), c.rms_norm_eps);
    Matrix q = proj(h, "self_attn.q_proj.weight", "self_attn.q_proj.bias");
    Matrix k = proj(h, "self_attn.k_proj.weight", "self_attn.k_proj.bias");
    const Matrix v = proj(h, "self_attn.v_proj.weight", "self_attn.v_proj.bias");
    rotate(q, hd, c.rope_theta);
    rotate(k, hd, c.rope_theta);
    Matrix attn(T, std::vector<double>(c.num_heads * hd, 0.0));
    for (int64_t head = 0; head < c.num_heads; ++head) {
      const int64_t g = head * c.num_kv_heads / c.num_heads;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> p(T, 0.0);  // masked positions keep weight 0
        double total = 0;
        for (int64_t j = 0; j <= t; ++j) {
          double s = 0;
          for (int64_t d = 0; d < hd; ++d) s += q[t][head * hd + d] * k[j][g * hd + d];
          total += p[j] = std::exp(s / std::sqrt(static_cast<double>(hd)));
        }
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t d = 0; d < hd; ++d) attn[t][head * hd + d] += p[j] / total * v[j][g * hd + d];
      }
    }
    const Matrix o = proj(attn, "self_attn.o_proj.weight", "self_attn.o_proj.bias");
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < c.hidden_size; ++i) x[t][i] += o[t][i];
    const Matrix h2 = normalize(x, vector_of(m, names::layer(l, "post_attention_layernorm.weight")), c.rms_norm_eps);
    Matrix gate = proj(h2, "mlp.gate_proj.weight", "mlp.gate_proj.bias");
    const Matrix up = proj(h2, "mlp.up_proj.weight", "mlp.up_proj.bias");
    for (int64_t t = 0; t < T; ++t)
      for (size_t i = 0; i < gate[t].size(); ++i) gate[t][i] = gate[t][i] / (1 + std::exp(-gate[t][i])) * up[t][i];
    const Matrix down = proj(gate, "mlp.down_proj.weight", "mlp.down_proj.bias");
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < c.hidden_size; ++i) x[t][i] += down[t][i];
  }
  return project(normalize(x, vector_of(m, names::final_norm()), c.rms_norm_eps), weights_of(m, m.output_weight()),
                 nullptr);
}

// --- comparisons ------------------------------------------------------------------------------

// max |got - want| / max |want| over one row; infinite when anything is NaN.
double row_error(const float* got, const float* want, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

double max_row_error(const Activation& got, const Activation& want) {
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.cols, want.cols);
  double worst = 0;
  for (int64_t r = 0; r < std::min(got.rows, want.rows); ++r) worst = std::max(worst, row_error(got.row(r), want.row(r), got.cols));
  return worst;
}

Activation as_activation(const Matrix& m) {
  Activation a(static_cast<int64_t>(m.size()), static_cast<int64_t>(m[0].size()));
  for (int64_t r = 0; r < a.rows; ++r)
    for (int64_t c = 0; c < a.cols; ++c) a.row(r)[c] = static_cast<float>(m[r][c]);
  return a;
}

Activation rows(const Activation& a, int64_t begin, int64_t end) {
  Activation out(end - begin, a.cols);
  std::copy(a.row(begin), a.row(end), out.data.begin());
  return out;
}

// --- tests ------------------------------------------------------------------------------------

struct EncodingMix {
  const char* name;
  TestModelSpec spec;
};

std::vector<EncodingMix> encoding_mixes() {
  TestModelSpec quantized;  // q4_k q8_0 q5_0 q6_k q5_k aprq4, f32 norms and biases, untied
  TestModelSpec floats;
  floats.embed = floats.q = floats.k = floats.v = floats.o = DType::F16;
  floats.gate = floats.up = floats.down = DType::BF16;
  floats.lm_head = DType::F32;
  floats.norm = floats.bias = DType::BF16;
  floats.tied = true;
  floats.seed = 2;
  TestModelSpec scaled;
  scaled.q = scaled.k = scaled.v = DType::FP8_E4M3;
  scaled.o = scaled.gate = DType::AprQ8;
  scaled.qkv_biases = false;
  scaled.heads = 6, scaled.kv_heads = 3, scaled.head_dim = 32;  // 3 kv heads, GQA 2:1, 192 columns
  scaled.seed = 3;
  return {{"quantized", quantized}, {"floats", floats}, {"fp8_aprq8", scaled}};
}

TEST(Interpreter, PrefillMatchesAnIndependentForwardPassForEveryEncoding) {
  for (const EncodingMix& mix : encoding_mixes()) {
    SCOPED_TRACE(mix.name);
    const auto m = make_test_model(mix.spec);
    const ir::Module module = ir::build_module(m->model);
    const ModelWeights weights(m->model);
    Interpreter interp(module, weights);
    const std::vector<int32_t> ids = random_ids(9, mix.spec.vocab, 7);
    const Activation logits = interp.run("prefill", ids, 0);
    ASSERT_EQ(logits.rows, 9);
    ASSERT_EQ(logits.cols, mix.spec.vocab);
    const double err = max_row_error(logits, as_activation(naive_forward(m->model, ids)));
    std::printf("%s: relative error %.3g, logit[0][0] %g\n", mix.name, err, logits.data[0]);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(Interpreter, PrefillThenDecodeEqualsRecomputingEveryPosition) {
  const auto m = make_test_model(TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  const ModelWeights weights(m->model);
  const std::vector<int32_t> ids = random_ids(11, 301, 5);
  const int64_t T = 7;

  Interpreter whole(module, weights);
  const Activation all = whole.run("prefill", ids, 0);

  Interpreter stepwise(module, weights);
  const Activation first = stepwise.run("prefill", std::span(ids).first(T), 0);
  EXPECT_LT(max_row_error(first, rows(all, 0, T)), 1e-5);
  for (int64_t p = T; p < 11; ++p) {
    const Activation next = stepwise.run("decode", std::span(ids).subspan(p, 1), p);
    EXPECT_LT(max_row_error(next, rows(all, p, p + 1)), 1e-5) << "position " << p;
  }
  EXPECT_EQ(stepwise.cached_positions(), 11);

  // A second prefill continuing the first (chunked prefill) gives the same logits too.
  Interpreter chunked(module, weights);
  chunked.run("prefill_last", std::span(ids).first(4), 0);
  EXPECT_LT(max_row_error(chunked.run("prefill", std::span(ids).subspan(4), 4), rows(all, 4, 11)), 1e-5);
}

TEST(Interpreter, PrefillLastIsTheLastRowOfPrefill) {
  const auto m = make_test_model(TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  const ModelWeights weights(m->model);
  const std::vector<int32_t> ids = random_ids(5, 301, 9);
  Interpreter a(module, weights), b(module, weights);
  const Activation all = a.run("prefill", ids, 0);
  const Activation last = b.run("prefill_last", ids, 0);
  ASSERT_EQ(last.rows, 1);
  EXPECT_EQ(max_row_error(last, rows(all, 4, 5)), 0.0);
}

TEST(Interpreter, RecordsEveryNamedOp) {
  const auto m = make_test_model(TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  const ModelWeights weights(m->model);
  Interpreter interp(module, weights);
  reference::RecordedValues recorded;
  const std::vector<int32_t> ids = random_ids(3, 301, 1);
  const Activation logits = interp.run("prefill", ids, 0, &recorded);
  // 2 layers x 16 valued ops (kv_append has no value) + embed, final_norm, logits.
  EXPECT_EQ(recorded.values.size(), 2u * 16 + 3);
  EXPECT_EQ(recorded.values.at("layers.1.mlp.down_proj").cols, 256);
  EXPECT_EQ(recorded.values.at("layers.0.attn.k_rope").cols, 128);
  EXPECT_EQ(max_row_error(recorded.values.at("logits"), logits), 0.0);
}

TEST(Interpreter, HandFusedModuleEqualsTheOriginal) {
  const auto m = make_test_model(TestModelSpec{});
  // With locations, so that the original ops keep their names.
  const std::string text = testing::with_fused_functions(ir::build_module(m->model).print(true), m->model.config);
  const ir::Module module = ir::parse_module(text, "fused.mlir");
  const ModelWeights weights(m->model);
  const std::vector<int32_t> ids = random_ids(8, 301, 3);

  Interpreter plain(module, weights), fused(module, weights);
  reference::RecordedValues plain_values, fused_values;
  const Activation want = plain.run("prefill", std::span(ids).first(6), 0, &plain_values);
  const Activation got = fused.run("prefill_fused", std::span(ids).first(6), 0, &fused_values);
  EXPECT_EQ(max_row_error(got, want), 0.0);
  // Every value a fused op names equals the original op's value of that name.
  EXPECT_EQ(fused_values.values.size(), 2u * 9 + 2);
  for (const auto& [name, value] : fused_values.values) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(plain_values.values.count(name));
    EXPECT_EQ(max_row_error(value, plain_values.values.at(name)), 0.0);
  }
  for (int64_t p = 6; p < 8; ++p) {
    const Activation a = plain.run("decode", std::span(ids).subspan(p, 1), p);
    const Activation b = fused.run("decode_fused", std::span(ids).subspan(p, 1), p);
    EXPECT_EQ(max_row_error(b, a), 0.0) << "position " << p;
  }
}

std::string bad_input_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "(no error)";
}

TEST(Interpreter, RefusesBadCallsWithClearMessages) {
  const auto m = make_test_model(TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  const ModelWeights weights(m->model);
  Interpreter interp(module, weights);
  const std::vector<int32_t> two = {1, 2}, bad = {1, 301};
  EXPECT_EQ(bad_input_of([&] { interp.run("generate", two, 0); }), "the module has no function @generate");
  EXPECT_EQ(bad_input_of([&] { interp.run("decode", two, 0); }), "@decode takes 1 token, got 2");
  EXPECT_EQ(bad_input_of([&] { interp.run("prefill", bad, 0); }), "token id 301 is outside the vocabulary of 301 tokens");
  EXPECT_EQ(bad_input_of([&] { interp.run("prefill", two, 3); }),
            "kv_append at position 3, but the cache holds positions [0, 0) (positions must follow without a gap)");
  EXPECT_EQ(bad_input_of([&] { interp.run("prefill", std::vector<int32_t>(65, 1), 0); }),
            "kv_append up to position 65 runs past the cache's 64 positions");
}

// A WeightSource that hands out the stored tensors as they are (as a plan does), whatever the IR
// declares: the interpreter must notice the difference.
struct StoredWeights : reference::WeightSource {
  const Model& model;
  explicit StoredWeights(const Model& model) : model(model) {}
  TensorView weight(const reference::WeightDecl& decl) const override { return model.tensor(decl.source).view(); }
};

TEST(Interpreter, ChecksWeightsAgainstTheirDeclaredTypes) {
  const auto m = make_test_model(TestModelSpec{});
  std::string text = ir::build_module(m->model).print(false);
  // Declare (and use) the v projections as q8_0 while the model holds q6_k.
  text = std::regex_replace(text, std::regex(R"(!aprc\.weight<q6_k, \[128, 256\]>)"), "!aprc.weight<q8_0, [128, 256]>");
  const ir::Module module = ir::parse_module(text, "edited.mlir");
  const StoredWeights weights(m->model);
  Interpreter interp(module, weights);
  EXPECT_EQ(bad_input_of([&] { interp.run("prefill", std::vector<int32_t>{1}, 0); }),
            "weight @layers.0.attn.v_proj.weight (tensor 'model.layers.0.self_attn.v_proj.weight'): the weights "
            "hold q6_k [128, 256], the IR declares q8_0 [128, 256]");
}

}  // namespace
}  // namespace aprc
