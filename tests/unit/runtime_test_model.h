// A small Qwen2-shaped model for the runtime's tests: a plan whose schedule calls the test-only
// kernels of tests/kernels (standing in for generated code), and a plain double-precision forward
// pass to check what the engine computes. Vocabulary 300 over the byte tokenizer's 257 tokens (a
// model's embedding is padded past its tokenizer, as real ones are).
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aprc/cpu_engine.h"
#include "aprc/plan_format.h"
#include "plan_test_util.h"

namespace aprc::test {

// The model: hidden 96, 3 query heads and 1 kv head of 32, MLP 160, vocabulary 37, 2 layers.
constexpr int64_t H = 96, HEADS = 3, KV = 1, HD = 32, HQ = HEADS * HD, KVD = KV * HD, F = 160, V = 300, L = 2;

struct TestPlan {
  std::string path;
  std::vector<std::vector<float>> weights;  // dequantized, by weight index
};

// Weight indices, in the order they are added.
struct W {
  size_t embed, final_norm;
  struct Layer {
    size_t attn_norm, q, bq, k, bk, v, bv, o, mlp_norm, gate, up, down;
  } layers[L];
};

class ScheduleBuilder {
 public:
  ScheduleBuilder(const W& w, const PlanManifest& m, int64_t max_tokens) : w_(w), m_(m), tm_(max_tokens) {}

  Function build(const std::string& name, bool last_only) {
    Function f;
    f.name = name;
    f.max_tokens = tm_;
    const int64_t x = alloc(H), xn = alloc(H), q = alloc(HQ), k = alloc(KVD), v = alloc(KVD), att = alloc(HQ),
                  o = alloc(H), g = alloc(F), u = alloc(F), h = alloc(F), d = alloc(H);
    const Expr T = Expr::tokens(), pos{0, 1, 0};
    step(f, "test_embedding", {ids(), wt(w_.embed), ar(x)}, {T, lit(H), lit(V), dt(w_.embed)}, T);
    for (int l = 0; l < L; ++l) {
      const auto& ly = w_.layers[l];
      step(f, "test_rms_norm", {ar(x), wt(ly.attn_norm), ar(xn)}, {T, lit(H)}, T);
      step(f, "test_linear_bias", {ar(xn), wt(ly.q), wt(ly.bq), ar(q)}, {T, lit(H), lit(HQ), dt(ly.q)}, lit(HQ), 8);
      step(f, "test_linear_bias", {ar(xn), wt(ly.k), wt(ly.bk), ar(k)}, {T, lit(H), lit(KVD), dt(ly.k)}, lit(KVD), 3);
      step(f, "test_linear_bias", {ar(xn), wt(ly.v), wt(ly.bv), ar(v)}, {T, lit(H), lit(KVD), dt(ly.v)}, lit(KVD));
      step(f, "test_rope", {ar(q)}, {T, pos, lit(HEADS), lit(HD)}, T);
      step(f, "test_rope", {ar(k)}, {T, pos, lit(KV), lit(HD)}, T);
      step(f, "test_kv_append", {ar(k), ar(v), Arg{ArgKind::CacheK, l, lit(0)}, Arg{ArgKind::CacheV, l, lit(0)}},
           {T, pos, lit(KVD)}, T);
      step(f, "test_attention", {ar(q), Arg{ArgKind::CacheK, l, lit(0)}, Arg{ArgKind::CacheV, l, lit(0)}, ar(att)},
           {T, pos, lit(HEADS), lit(KV), lit(HD)}, lit(HEADS));
      step(f, "test_linear", {ar(att), wt(ly.o), ar(o)}, {T, lit(HQ), lit(H), dt(ly.o)}, lit(H), 16);
      step(f, "test_add", {ar(x), ar(o), ar(x)}, {T, lit(H)}, T);
      step(f, "test_rms_norm", {ar(x), wt(ly.mlp_norm), ar(xn)}, {T, lit(H)}, T);
      step(f, "test_linear", {ar(xn), wt(ly.gate), ar(g)}, {T, lit(H), lit(F), dt(ly.gate)}, lit(F), 5);
      step(f, "test_linear", {ar(xn), wt(ly.up), ar(u)}, {T, lit(H), lit(F), dt(ly.up)}, lit(F));
      step(f, "test_swiglu", {ar(g), ar(u), ar(h)}, {T, lit(F)}, T);
      step(f, "test_linear", {ar(h), wt(ly.down), ar(d)}, {T, lit(F), lit(H), dt(ly.down)}, lit(H));
      step(f, "test_add", {ar(x), ar(d), ar(x)}, {T, lit(H)}, T);
    }
    if (last_only) {
      // Only the last row: it starts (T - 1) rows into x.
      const Arg last_row{ArgKind::Arena, 0, Expr{H * 4, 0, x - H * 4}};
      step(f, "test_rms_norm", {last_row, wt(w_.final_norm), ar(xn)}, {lit(1), lit(H)}, lit(1));
      step(f, "test_linear", {ar(xn), wt(w_.embed), logits()}, {lit(1), lit(H), lit(V), dt(w_.embed)}, lit(V), 4);
    } else {
      step(f, "test_rms_norm", {ar(x), wt(w_.final_norm), ar(xn)}, {T, lit(H)}, T);
      step(f, "test_linear", {ar(xn), wt(w_.embed), logits()}, {T, lit(H), lit(V), dt(w_.embed)}, lit(V), 4);
    }
    f.arena_bytes = arena_;
    arena_ = 0;
    return f;
  }

 private:
  static Expr lit(int64_t v) { return Expr::lit(v); }
  int64_t alloc(int64_t cols) {
    const int64_t offset = arena_;
    arena_ += tm_ * cols * 4 + 64;
    return offset;
  }
  static Arg ar(int64_t offset) { return Arg{ArgKind::Arena, 0, Expr::lit(offset)}; }
  static Arg wt(size_t index) { return Arg{ArgKind::Weight, static_cast<int64_t>(index), Expr::lit(0)}; }
  static Arg ids() { return Arg{ArgKind::InputIds, 0, Expr::lit(0)}; }
  static Arg logits() { return Arg{ArgKind::Logits, 0, Expr::lit(0)}; }
  Expr dt(size_t index) const { return lit(static_cast<int64_t>(m_.weights[index].dtype)); }
  void step(Function& f, const char* kernel, std::vector<Arg> args, std::vector<Expr> scalars, Expr extent,
            int64_t grain = 1) {
    Step st;
    st.kernel = kernel;
    st.spec.kind = KernelKind::Add;  // the test kernels are not generated from specs
    st.args = std::move(args);
    st.scalars = std::move(scalars);
    st.extent = extent;
    st.grain = grain;
    f.steps.push_back(std::move(st));
  }

  const W& w_;
  const PlanManifest& m_;
  int64_t tm_;
  int64_t arena_ = 0;
};

inline std::vector<float> random_floats(size_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Writes the plan (weights, schedules, the test kernels as its CPU code); returns the dequantized
// weights for the reference.
inline TestPlan write_test_plan(const std::string& path, int64_t max_tokens, int64_t max_context,
                                const std::vector<std::string>& targets = {"cpu"},
                                const std::vector<std::string>& cpu_features = {},
                                const std::string& triple = "x86_64-unknown-linux-gnu", bool only_prefill = false) {
  std::mt19937 rng(42);
  PlanWriter writer(path);
  TestPlan out{path, {}};
  auto add = [&](const std::string& name, DType dtype, std::vector<int64_t> shape, float scale, float offset = 0) {
    const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
    std::vector<float> values = random_floats(static_cast<size_t>(rows * cols), scale, rng);
    for (float& v : values) v += offset;
    std::vector<uint8_t> bytes = quantize_tensor(dtype, values.data(), rows, cols);
    PlanWeight w;
    w.name = w.source = name;
    w.dtype = dtype;
    w.shape = shape;
    const size_t index = writer.add_weight(w, bytes);
    out.weights.push_back(dequantize(TensorView{dtype, shape, bytes}));
    return index;
  };
  const float s = 1.0f / std::sqrt(float(H));
  W w{};
  w.embed = add("embed", DType::Q8_0, {V, H}, 1.0f);
  w.final_norm = add("final_norm", DType::F32, {H}, 0.2f, 1.0f);
  for (int l = 0; l < L; ++l) {
    auto& ly = w.layers[l];
    ly.attn_norm = add("attn_norm", DType::F32, {H}, 0.2f, 1.0f);
    ly.q = add("q", DType::F32, {HQ, H}, 2 * s);
    ly.bq = add("bq", DType::F32, {HQ}, 0.3f);
    ly.k = add("k", DType::F32, {KVD, H}, 2 * s);
    ly.bk = add("bk", DType::F32, {KVD}, 0.3f);
    ly.v = add("v", DType::Q8_0, {KVD, H}, 2 * s);
    ly.bv = add("bv", DType::F32, {KVD}, 0.3f);
    ly.o = add("o", DType::Q8_0, {H, HQ}, s);
    ly.mlp_norm = add("mlp_norm", DType::F32, {H}, 0.2f, 1.0f);
    ly.gate = add("gate", DType::Q8_0, {F, H}, 2 * s);
    ly.up = add("up", DType::F32, {F, H}, 2 * s);
    ly.down = add("down", DType::Q8_0, {H, F}, 1.0f / std::sqrt(float(F)));
  }
  PlanManifest m;
  m.config = test::small_config();
  m.config.hidden_size = H;
  m.config.num_layers = L;
  m.config.num_heads = HEADS;
  m.config.num_kv_heads = KV;
  m.config.head_dim = HD;
  m.config.intermediate_size = F;
  m.config.vocab_size = V;
  m.tokenizer = test::byte_tokenizer();
  m.kv_cache = KvCacheGeometry{L, KV, HD, DType::F32, max_context};
  m.weights = writer.weights();
  for (const std::string& name : targets) {
    PlanTarget t;
    t.name = name;
    if (name == "cpu") {
      t.triple = triple;
      t.features = cpu_features;
    }
    if (name == "cuda") t.cuda_archs = {};
    ScheduleBuilder b(w, m, max_tokens);
    t.functions = {b.build("prefill", false)};
    if (!only_prefill) {
      t.functions.push_back(b.build("prefill_last", true));
      ScheduleBuilder one(w, m, 1);
      t.functions.push_back(one.build("decode", true));
    }
    m.targets.push_back(std::move(t));
  }
  writer.add_section(std::string(plan_section::kCpuObject), test::read_file(APRC_TEST_KERNELS_SO));
  writer.finish(m);
  return out;
}

// The forward pass, in doubles, over the whole sequence at once: logits of every position.
inline std::vector<double> reference_logits(const TestPlan& p, const std::vector<int32_t>& ids) {
  const W w = [] {
    W w{};
    size_t i = 0;
    w.embed = i++;
    w.final_norm = i++;
    for (auto& ly : w.layers)
      for (size_t* f : {&ly.attn_norm, &ly.q, &ly.bq, &ly.k, &ly.bk, &ly.v, &ly.bv, &ly.o, &ly.mlp_norm, &ly.gate,
                        &ly.up, &ly.down})
        *f = i++;
    return w;
  }();
  const auto& Wt = p.weights;
  const size_t T = ids.size();
  using Mat = std::vector<std::vector<double>>;
  auto matmul = [](const Mat& x, const std::vector<float>& w, int64_t n_out, const std::vector<float>* bias) {
    Mat y(x.size(), std::vector<double>(n_out));
    const size_t K = x[0].size();
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t n = 0; n < n_out; ++n) {
        double acc = bias ? (*bias)[n] : 0;
        for (size_t k = 0; k < K; ++k) acc += x[t][k] * w[n * K + k];
        y[t][n] = acc;
      }
    return y;
  };
  auto norm = [](const Mat& x, const std::vector<float>& g) {
    Mat y = x;
    for (auto& row : y) {
      double ss = 0;
      for (double v : row) ss += v * v;
      const double inv = 1 / std::sqrt(ss / row.size() + 1e-6);
      for (size_t i = 0; i < row.size(); ++i) row[i] *= inv * g[i];
    }
    return y;
  };
  auto rope = [](Mat& x, int64_t heads) {
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < HD / 2; ++i) {
          const double a = double(t) / std::pow(1e6, 2.0 * i / HD);
          double& x0 = x[t][h * HD + i];
          double& x1 = x[t][h * HD + i + HD / 2];
          const double r0 = x0 * std::cos(a) - x1 * std::sin(a), r1 = x1 * std::cos(a) + x0 * std::sin(a);
          x0 = r0;
          x1 = r1;
        }
  };
  Mat x(T, std::vector<double>(H));
  for (size_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H; ++i) x[t][i] = Wt[w.embed][ids[t] * H + i];
  for (const auto& ly : w.layers) {
    Mat xn = norm(x, Wt[ly.attn_norm]);
    Mat q = matmul(xn, Wt[ly.q], HQ, &Wt[ly.bq]), k = matmul(xn, Wt[ly.k], KVD, &Wt[ly.bk]),
        v = matmul(xn, Wt[ly.v], KVD, &Wt[ly.bv]);
    rope(q, HEADS);
    rope(k, KV);
    Mat att(T, std::vector<double>(HQ));
    for (size_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < HEADS; ++h) {
        const int64_t g = h / (HEADS / KV);
        std::vector<double> s(t + 1);
        double max = -1e300, sum = 0;
        for (size_t p2 = 0; p2 <= t; ++p2) {
          double dot = 0;
          for (int64_t i = 0; i < HD; ++i) dot += q[t][h * HD + i] * k[p2][g * HD + i];
          s[p2] = dot / std::sqrt(double(HD));
          max = std::max(max, s[p2]);
        }
        for (double& e : s) sum += (e = std::exp(e - max));
        for (int64_t i = 0; i < HD; ++i) {
          double acc = 0;
          for (size_t p2 = 0; p2 <= t; ++p2) acc += s[p2] * v[p2][g * HD + i];
          att[t][h * HD + i] = acc / sum;
        }
      }
    Mat o = matmul(att, Wt[ly.o], H, nullptr);
    for (size_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < H; ++i) x[t][i] += o[t][i];
    xn = norm(x, Wt[ly.mlp_norm]);
    Mat g = matmul(xn, Wt[ly.gate], F, nullptr), u = matmul(xn, Wt[ly.up], F, nullptr);
    for (size_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < F; ++i) g[t][i] = g[t][i] / (1 + std::exp(-g[t][i])) * u[t][i];
    Mat d = matmul(g, Wt[ly.down], H, nullptr);
    for (size_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < H; ++i) x[t][i] += d[t][i];
  }
  Mat logits = matmul(norm(x, Wt[w.final_norm]), Wt[w.embed], V, nullptr);
  std::vector<double> flat;
  for (auto& row : logits) flat.insert(flat.end(), row.begin(), row.end());
  return flat;
}

// max |a - ref| / max |ref| over one row of V logits.
inline double row_error(std::span<const float> got, const std::vector<double>& ref, size_t row) {
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < V; ++i) {
    const double r = ref[row * V + i];
    max_ref = std::max(max_ref, std::fabs(r));
    const double diff = std::fabs(got[i] - r);
    max_diff = std::isnan(diff) ? INFINITY : std::max(max_diff, diff);
  }
  return max_diff / max_ref;
}

inline CpuKernelResolver test_kernels() {
  void* handle = dlopen(APRC_TEST_KERNELS_SO, RTLD_NOW | RTLD_LOCAL);
  EXPECT_NE(handle, nullptr) << dlerror();
  return [handle](const std::string& name) { return reinterpret_cast<CpuKernelFn>(dlsym(handle, name.c_str())); };
}

}  // namespace aprc::test
