#include "synthetic.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "aprc/codegen/cuda.h"
#include "aprc/error.h"
#include "aprc/formats/layouts.h"
#include "synthetic_weights.h"

namespace aprc::cuda::synthetic {

Config config(const std::string& name) {
  Config c;
  c.name = name;
  if (name == "qwen2.5-0.5b") {
    c.hidden = 896, c.intermediate = 4864, c.layers = 24, c.heads = 14, c.kv_heads = 2, c.head_dim = 64;
    c.vocab = 151936, c.tied = true;
  } else if (name == "qwen2.5-1.5b") {
    c.hidden = 1536, c.intermediate = 8960, c.layers = 28, c.heads = 12, c.kv_heads = 2, c.head_dim = 128;
    c.vocab = 151936, c.tied = true;
  } else if (name == "qwen2.5-7b") {
    c.hidden = 3584, c.intermediate = 18944, c.layers = 28, c.heads = 28, c.kv_heads = 4, c.head_dim = 128;
    c.vocab = 152064, c.tied = false;
  } else if (name == "tiny") {
    c.hidden = 256, c.intermediate = 768, c.layers = 2, c.heads = 4, c.kv_heads = 2, c.head_dim = 64;
    c.vocab = 1000, c.tied = false;
  } else {
    throw_bad_input("synthetic: unknown model '" + name + "' (qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b, tiny)");
  }
  return c;
}

DType q4km_type(DType want, int64_t cols) {
  if (cols % 256 == 0) return want;
  return want == DType::Q6_K ? DType::Q8_0 : DType::Q5_0;
}

namespace {


struct Builder {
  Model& m;
  int64_t add(const std::string& name, DType dtype, int64_t rows, int64_t cols) {
    m.weights.push_back({dtype, preferred_layout(Backend::Cuda, dtype), ScaleGranularity::PerChannel, rows, cols});
    m.weight_names.push_back(name);
    return static_cast<int64_t>(m.weights.size()) - 1;
  }
  int64_t vec(const std::string& name, int64_t n) { return add(name, DType::F32, 1, n); }
};

Arg arena(int64_t off, Expr extra = {}) {
  return {ArgKind::Arena, 0, Expr{extra.coef_T, extra.coef_pos, off + extra.constant}};
}
Arg weight(int64_t i) { return {ArgKind::Weight, i, Expr::lit(0)}; }

Step step(const KernelSpec& spec, std::vector<Arg> args, const std::string& op, int64_t max_tokens,
          Expr rows = Expr::tokens()) {
  Step s;
  s.spec = spec;
  // Prefill linears with fp8 weights take per-token fp8 activations (decode keeps f32 ones).
  s.spec.fp8_activations = spec.kind == KernelKind::Linear && max_tokens > 1 && !spec.weights.empty() &&
                           spec.weights[0].dtype == DType::FP8_E4M3;
  s.args = std::move(args);
  s.scalars = {rows};
  s.outputs.push_back({op, static_cast<int>(s.args.size()) - 1, 0, 0, 0, rows});
  assign_cuda_launch(s, max_tokens);
  return s;
}

}  // namespace

Model build(const Config& cfg, int64_t prefill_tokens, uint64_t seed, bool generate, int threads) {
  Model m;
  m.cfg = cfg;
  Builder b{m};
  const int64_t H = cfg.hidden, I = cfg.intermediate, QD = cfg.heads * cfg.head_dim, KD = cfg.kv_heads * cfg.head_dim;
  // The dtype of a linear weight of `cols` columns that Q4_K_M would store as `want`.
  auto linear_type = [&](DType want, int64_t cols) { return cfg.fp8 ? DType::FP8_E4M3 : q4km_type(want, cols); };
  const int64_t embd = b.add("token_embd", q4km_type(DType::Q4_K, H), cfg.vocab, H);
  struct Layer {
    int64_t attn_norm, q, k, v, bq, bk, bv, o, mlp_norm, gate, up, down;
  };
  std::vector<Layer> L;
  const int64_t n = cfg.layers;
  for (int64_t l = 0; l < n; ++l) {
    // llama.cpp's "use more bits" layers: the first and last eighth, and every third in between.
    const bool more = l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2;
    const std::string p = "layers." + std::to_string(l) + ".";
    Layer y;
    y.attn_norm = b.vec(p + "attn_norm", H);
    y.q = b.add(p + "attn.q_proj", linear_type(DType::Q4_K, H), QD, H);
    y.k = b.add(p + "attn.k_proj", linear_type(DType::Q4_K, H), KD, H);
    y.v = b.add(p + "attn.v_proj", linear_type(more ? DType::Q6_K : DType::Q4_K, H), KD, H);
    y.bq = b.vec(p + "attn.q_bias", QD);
    y.bk = b.vec(p + "attn.k_bias", KD);
    y.bv = b.vec(p + "attn.v_bias", KD);
    y.o = b.add(p + "attn.o_proj", linear_type(DType::Q4_K, QD), H, QD);
    y.mlp_norm = b.vec(p + "mlp_norm", H);
    y.gate = b.add(p + "mlp.gate_proj", linear_type(DType::Q4_K, H), I, H);
    y.up = b.add(p + "mlp.up_proj", linear_type(DType::Q4_K, H), I, H);
    y.down = b.add(p + "mlp.down_proj", linear_type(more ? DType::Q6_K : DType::Q4_K, I), H, I);
    L.push_back(y);
  }
  const int64_t final_norm = b.vec("final_norm", H);
  // The output projection keeps its Q6_K under fp8 too, as aprc-cast-fp8's default groups do.
  const int64_t output = cfg.tied ? embd : b.add("output", q4km_type(DType::Q6_K, H), cfg.vocab, H);
  m.kv = {cfg.layers, cfg.kv_heads, cfg.head_dim, DType::F32};

  for (size_t i = 0; i < m.weights.size(); ++i)
    if (static_cast<int64_t>(i) != embd || cfg.tied) m.weight_bytes_per_token += *layout_bytes(m.weights[i].layout, m.weights[i].dtype, m.weights[i].rows, m.weights[i].cols);
  m.weight_bytes_per_token += *layout_bytes(m.weights[embd].layout, m.weights[embd].dtype, 1, H);  // one row

  auto schedule = [&](const std::string& name, int64_t P) {
    // arena: x [P,H], q [P,QD], k/v [P,KD], attn [P,QD], act [P,I]
    int64_t at = 0;
    auto take = [&](int64_t floats) {
      const int64_t o = at;
      at += ((floats * 4 + 255) / 256) * 256;
      return o;
    };
    const int64_t x = take(P * H), q = take(P * QD), k = take(P * KD), v = take(P * KD), att = take(P * QD), act = take(P * I);
    Function f;
    f.name = name;
    f.max_tokens = P;
    KernelSpec es;
    es.kind = KernelKind::Embedding;
    es.cols = H;
    es.weights = {m.weights[embd]};
    f.steps.push_back(step(es, {{ArgKind::InputIds, 0, Expr::lit(0)}, weight(embd), arena(x)}, "embed", P));
    for (int64_t l = 0; l < n; ++l) {
      const Layer& y = L[l];
      const std::string p = "layers." + std::to_string(l) + ".";
      KernelSpec qkv;
      qkv.kind = KernelKind::Linear;
      qkv.has_norm = true;
      qkv.norm = m.weights[y.attn_norm];
      qkv.eps = cfg.eps;
      qkv.weights = {m.weights[y.q], m.weights[y.k], m.weights[y.v]};
      qkv.biases = {m.weights[y.bq], m.weights[y.bk], m.weights[y.bv]};
      f.steps.push_back(step(qkv, {arena(x), weight(y.attn_norm), weight(y.q), weight(y.k), weight(y.v), weight(y.bq),
                                   weight(y.bk), weight(y.bv), arena(q), arena(k), arena(v)},
                             p + "attn.qkv", P));
      KernelSpec kva;
      kva.kind = KernelKind::KvAppend;
      kva.kv_heads = cfg.kv_heads;
      kva.head_dim = cfg.head_dim;
      kva.rope = true;
      kva.theta = cfg.theta;
      kva.cache_dtype = m.kv.dtype;
      f.steps.push_back(step(kva, {arena(k), arena(v), {ArgKind::CacheK, l, Expr::lit(0)}, {ArgKind::CacheV, l, Expr::lit(0)}},
                             p + "attn.kv_append", P));
      KernelSpec rope;
      rope.kind = KernelKind::Rope;
      rope.heads = cfg.heads;
      rope.head_dim = cfg.head_dim;
      rope.theta = cfg.theta;
      f.steps.push_back(step(rope, {arena(q)}, p + "attn.q_rope", P));
      KernelSpec at_spec;
      at_spec.kind = KernelKind::Attention;
      at_spec.heads = cfg.heads;
      at_spec.kv_heads = cfg.kv_heads;
      at_spec.head_dim = cfg.head_dim;
      at_spec.scale = static_cast<float>(1.0 / std::sqrt(double(cfg.head_dim)));
      at_spec.cache_dtype = m.kv.dtype;
      f.steps.push_back(step(at_spec, {arena(q), {ArgKind::CacheK, l, Expr::lit(0)}, {ArgKind::CacheV, l, Expr::lit(0)}, arena(att)},
                             p + "attn.attention", P));
      KernelSpec o;
      o.kind = KernelKind::Linear;
      o.weights = {m.weights[y.o]};
      o.epilogue = Epilogue::Residual;
      f.steps.push_back(step(o, {arena(att), arena(x), weight(y.o), arena(x)}, p + "attn_residual", P));
      KernelSpec gu;
      gu.kind = KernelKind::Linear;
      gu.has_norm = true;
      gu.norm = m.weights[y.mlp_norm];
      gu.eps = cfg.eps;
      gu.weights = {m.weights[y.gate], m.weights[y.up]};
      gu.epilogue = Epilogue::SwiGLU;
      f.steps.push_back(step(gu, {arena(x), weight(y.mlp_norm), weight(y.gate), weight(y.up), arena(act)}, p + "mlp.mul", P));
      KernelSpec d;
      d.kind = KernelKind::Linear;
      d.weights = {m.weights[y.down]};
      d.epilogue = Epilogue::Residual;
      f.steps.push_back(step(d, {arena(act), arena(x), weight(y.down), arena(x)}, p + "mlp_residual", P));
    }
    KernelSpec lg;
    lg.kind = KernelKind::Linear;
    lg.has_norm = true;
    lg.norm = m.weights[final_norm];
    lg.eps = cfg.eps;
    lg.weights = {m.weights[output]};
    // the last position only: row T-1 of x, one row of logits
    f.steps.push_back(step(lg, {arena(x, Expr{H * 4, 0, -H * 4}), weight(final_norm), weight(output), {ArgKind::Logits, 0, Expr::lit(0)}},
                           "logits", P, Expr::lit(1)));
    f.arena_bytes = at;
    m.functions.push_back(std::move(f));
  };
  schedule("prefill_last", prefill_tokens);
  schedule("decode", 1);

  if (generate) {
    m.bytes.resize(m.weights.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < m.weights.size();) {
        const WeightDesc& w = m.weights[i];
        const std::vector<uint8_t> rm = random_row_major(w.dtype, w.rows, w.cols, seed * 1000003 + i);
        m.bytes[i] = repack(w.layout, TensorView{w.dtype, {w.rows, w.cols}, rm});
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  return m;
}

}  // namespace aprc::cuda::synthetic
