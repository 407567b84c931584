// Every CUDA kernel kind against a double-precision CPU reference, on random non-zero inputs of odd
// sizes, through the engine (arena, caches, scalar table, graph capture and replay). Each case runs on
// two devices: the emulator (always; CI has no GPU) and the GPU (skipped with a message without one).
// All cases share one generated module, compiled once per process. On a GPU, APRC_CUDA_TEST_MODULE
// may name a module file compiled elsewhere (aprc_cuda_tests --write-module FILE): it is used when its
// source matches, so the GPU machine spends no time in NVRTC. A table of errors is printed at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <unistd.h>

#include "aprc/codegen/cuda.h"
#include "aprc/cuda/engine.h"
#include "aprc/error.h"
#include "aprc/cuda/plan_engine.h"
#include "aprc/engine.h"
#include "aprc/formats/layouts.h"
#include "aprc/plan.h"
#include "cuda_emu_device.h"
#include "plan_test_util.h"
#include "cuda_test_support.h"
#include "synthetic.h"

namespace aprc::cuda::test {
namespace {

// ---- building schedules by hand ---------------------------------------------------------------------

class ArenaPlan {
 public:
  int64_t take(int64_t floats) {
    const int64_t at = end_;
    end_ += ((floats * 4 + 255) / 256) * 256;
    return at;
  }
  int64_t bytes() const { return end_; }

 private:
  int64_t end_ = 0;
};

Arg arena(int64_t off) { return {ArgKind::Arena, 0, Expr::lit(off)}; }
Arg weight(int64_t i) { return {ArgKind::Weight, i, Expr::lit(0)}; }
Arg cache_arg(bool v, int64_t layer) { return {v ? ArgKind::CacheV : ArgKind::CacheK, layer, Expr::lit(0)}; }

Step make_step(const KernelSpec& spec, std::vector<Arg> args, int64_t max_tokens) {
  Step s;
  s.spec = spec;
  s.args = std::move(args);
  s.scalars = {Expr::tokens()};
  assign_cuda_launch(s, max_tokens);
  return s;
}

Function make_function(const std::string& name, int64_t max_tokens, int64_t arena_bytes, std::vector<Step> steps) {
  Function f;
  f.name = name;
  f.max_tokens = max_tokens;
  f.arena_bytes = arena_bytes;
  f.steps = std::move(steps);
  return f;
}

// ---- cases ------------------------------------------------------------------------------------------

struct Check {
  std::string what;
  double err;
};

struct Case {
  std::string name;
  double tol = 1e-4;
  std::vector<Function> functions;
  std::vector<TestWeight> weights;
  KvCacheDesc kv;
  int64_t vocab = 16;
  int64_t context = 256;
  // Runs the calls and returns one error per checked output.
  std::function<std::vector<Check>(Engine&)> run;
};

std::vector<float> read(Engine& e, int64_t off, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  e.read_arena(off, v.data(), v.size() * 4);
  return v;
}
void write(Engine& e, int64_t off, const std::vector<float>& v) { e.write_arena(off, v.data(), v.size() * 4); }
void poison(Engine& e, int64_t off, int64_t n) {
  write(e, off, std::vector<float>(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN()));
}
std::vector<int32_t> dummy_ids(int64_t T) { return std::vector<int32_t>(static_cast<size_t>(T), 1); }

struct LinearCaseSpec {
  std::string name;
  std::vector<std::pair<DType, WeightLayout>> formats;
  std::vector<int64_t> rows;
  int64_t K;
  bool norm = false, bias = false;
  Epilogue epilogue = Epilogue::None;
  std::vector<int64_t> tokens = {};  // T of each call; decode function when max is 1
  int64_t max_tokens = 1;
  bool fp8_activations = false;  // prefill on the FP8 tensor cores (fp8 weights)
  ScaleGranularity scales = ScaleGranularity::PerChannel;  // of fp8 weights
  double tol = 1e-4;
};

Case linear_case(const LinearCaseSpec& c, uint64_t seed) {
  Rng rng(seed);
  Case cs;
  cs.name = c.name;
  KernelSpec spec;
  spec.kind = KernelKind::Linear;
  spec.has_norm = c.norm;
  spec.epilogue = c.epilogue;
  spec.eps = 1e-5;
  spec.fp8_activations = c.fp8_activations;
  cs.tol = c.tol;
  for (size_t i = 0; i < c.formats.size(); ++i) {
    cs.weights.push_back(make_weight(c.formats[i].first, c.formats[i].second, c.rows[i], c.K, rng, c.scales));
    spec.weights.push_back(cs.weights.back().desc);
  }
  const size_t nw = c.formats.size();
  const DType vec_types[] = {DType::F32, DType::F16, DType::BF16};
  auto gamma = std::make_shared<FloatVec>(random_vec(vec_types[seed % 3], c.K, rng, 0.5f, 1.5f));
  auto biases = std::make_shared<std::vector<FloatVec>>();
  if (c.norm) {
    spec.norm = {vec_types[seed % 3], WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, c.K};
    cs.weights.push_back({spec.norm, gamma->bytes, gamma->values});
  }
  if (c.bias)
    for (size_t i = 0; i < nw; ++i) {
      const DType bt = vec_types[(seed + i) % 3];
      biases->push_back(random_vec(bt, c.rows[i], rng, -0.5f, 0.5f));
      spec.biases.push_back({bt, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, c.rows[i]});
      cs.weights.push_back({spec.biases.back(), biases->back().bytes, biases->back().values});
    }
  const int64_t T = c.max_tokens;
  ArenaPlan ap;
  const int64_t x_off = ap.take(T * c.K);
  std::vector<int64_t> out_offs;
  const size_t nout = c.epilogue == Epilogue::None ? nw : 1;
  for (size_t i = 0; i < nout; ++i) out_offs.push_back(ap.take(T * c.rows[i]));
  std::vector<Arg> args{arena(x_off)};
  if (c.norm) args.push_back(weight(static_cast<int64_t>(nw)));
  if (c.epilogue == Epilogue::Residual) args.push_back(arena(out_offs[0]));  // in place: out aliases the residual
  for (size_t i = 0; i < nw; ++i) args.push_back(weight(static_cast<int64_t>(i)));
  for (size_t i = 0; i < biases->size(); ++i) args.push_back(weight(static_cast<int64_t>(nw + (c.norm ? 1 : 0) + i)));
  for (size_t i = 0; i < nout; ++i) args.push_back(arena(out_offs[i]));
  cs.functions.push_back(make_function("f", c.max_tokens, ap.bytes(), {make_step(spec, args, c.max_tokens)}));

  const auto weights_ptr = std::make_shared<std::vector<TestWeight>>(cs.weights);
  cs.run = [=](Engine& e) {
    Rng r(seed * 31 + 7);
    std::vector<Check> checks;
    std::vector<const TestWeight*> ws;
    for (size_t i = 0; i < nw; ++i) ws.push_back(&(*weights_ptr)[i]);
    std::vector<std::vector<float>> bvals;
    for (const auto& b : *biases) bvals.push_back(b.values);
    for (int64_t t : c.tokens) {
      const std::vector<float> x = random_floats(t * c.K, r, 1.0f);
      write(e, x_off, x);
      std::vector<float> res;
      if (c.epilogue == Epilogue::Residual) {
        res = random_floats(t * c.rows[0], r, 2.0f);
        write(e, out_offs[0], res);
      } else {
        for (size_t i = 0; i < nout; ++i) poison(e, out_offs[i], t * c.rows[i]);
      }
      e.run("f", dummy_ids(t), 0, 0, nullptr);
      const auto ref = ref_linear(spec, x, t, ws, c.norm ? &gamma->values : nullptr, bvals,
                                  c.epilogue == Epilogue::Residual ? &res : nullptr);
      for (size_t i = 0; i < nout; ++i)
        checks.push_back({"T=" + std::to_string(t) + " out" + std::to_string(i),
                          rel_error(read(e, out_offs[i], t * c.rows[i]), ref[i])});
    }
    return checks;
  };
  return cs;
}

// kv append (+rope) of k and v, rope of q, attention: a prefill call, then decode calls (graph replay).
// The rotating kv append (q_heads > 0: aprc.rope_qk_kv_append) and the attention of the cases.
KernelSpec kv_append_spec(int64_t q_heads, int64_t kvh, int64_t hd, DType cache) {
  KernelSpec s;
  s.kind = KernelKind::KvAppend;
  s.heads = q_heads;
  s.kv_heads = kvh;
  s.head_dim = hd;
  s.rope = true;
  s.theta = 10000.0;
  s.cache_dtype = cache;
  return s;
}
KernelSpec attention_spec(int64_t heads, int64_t kvh, int64_t hd, DType cache) {
  KernelSpec s;
  s.kind = KernelKind::Attention;
  s.heads = heads;
  s.kv_heads = kvh;
  s.head_dim = hd;
  s.scale = static_cast<float>(1.0 / std::sqrt(double(hd)));
  s.cache_dtype = cache;
  return s;
}

// With fill_to > 0, a kv-append-only function first fills positions [0, fill_to) in calls of 64, so the
// decode attention runs with every split in use. With fused_q, the kv append rotates q too (KvAppend
// with heads: aprc.rope_qk_kv_append) and there is no rope step; with fused_attention too, the decode
// function's append and attention are one kernel (fuse_decode_steps, as the compiler joins them).
Case attention_case(const std::string& name, int64_t heads, int64_t kvh, int64_t hd, DType cache, int64_t prefill_T,
                    int decode_calls, uint64_t seed, double tol, int64_t fill_to = 0, bool fused_q = false,
                    bool fused_attention = false) {
  Case cs;
  cs.name = name;
  cs.tol = tol;
  cs.kv = {1, kvh, hd, cache};
  cs.context = fill_to + 256;
  const int64_t maxT = 64;
  const KernelSpec kva = kv_append_spec(0, kvh, hd, cache), kvq = kv_append_spec(heads, kvh, hd, cache);
  const KernelSpec att = attention_spec(heads, kvh, hd, cache);
  KernelSpec rope;
  rope.kind = KernelKind::Rope;
  rope.heads = heads;
  rope.head_dim = hd;
  rope.theta = 10000.0;
  ArenaPlan ap;
  const int64_t q_off = ap.take(maxT * heads * hd), k_off = ap.take(maxT * kvh * hd), v_off = ap.take(maxT * kvh * hd),
                o_off = ap.take(maxT * heads * hd);
  auto steps = [&](int64_t max_tokens) {
    if (fused_q)
      return std::vector<Step>{
          make_step(kvq, {arena(k_off), arena(v_off), cache_arg(false, 0), cache_arg(true, 0), arena(q_off)}, max_tokens),
          make_step(att, {arena(q_off), cache_arg(false, 0), cache_arg(true, 0), arena(o_off)}, max_tokens)};
    return std::vector<Step>{
        make_step(kva, {arena(k_off), arena(v_off), cache_arg(false, 0), cache_arg(true, 0)}, max_tokens),
        make_step(rope, {arena(q_off)}, max_tokens),
        make_step(att, {arena(q_off), cache_arg(false, 0), cache_arg(true, 0), arena(o_off)}, max_tokens)};
  };
  cs.functions.push_back(make_function("prefill", maxT, ap.bytes(), steps(maxT)));
  cs.functions.push_back(make_function("decode", 1, ap.bytes(), steps(1)));
  if (fused_attention) {
    fuse_decode_steps(cs.functions.back());
    const std::vector<Step>& fused = cs.functions.back().steps;
    if (fused.size() != 1 || !fused[0].spec.rope || fused[0].kernel.rfind("rope_attention_", 0) != 0)
      throw_internal(name + ": fuse_decode_steps did not join the append and the attention");
  }
  // the fill appends k and v only (its q rows, when the append rotates them, are not checked)
  cs.functions.push_back(make_function("fill", maxT, ap.bytes(), {steps(maxT)[0]}));
  cs.run = [=](Engine& e) {
    Rng r(seed);
    std::vector<Check> checks;
    std::vector<float> keys, values;  // what the cache should hold, rows [0, pos)
    int64_t pos = 0;
    while (pos < fill_to) {
      const int64_t T = std::min<int64_t>(maxT, fill_to - pos);
      std::vector<float> k = random_floats(T * kvh * hd, r, 1.0f), v = random_floats(T * kvh * hd, r, 1.0f);
      write(e, k_off, k);
      write(e, v_off, v);
      e.run("fill", dummy_ids(T), pos, 0, nullptr);
      ref_rope(k, T, kvh, hd, pos, 10000.0);
      for (auto& x : k) x = round_to(cache, x);
      for (auto& x : v) x = round_to(cache, x);
      keys.insert(keys.end(), k.begin(), k.end());
      values.insert(values.end(), v.begin(), v.end());
      pos += T;
    }
    auto call = [&](const char* fn, int64_t T) {
      std::vector<float> q = random_floats(T * heads * hd, r, 1.0f), k = random_floats(T * kvh * hd, r, 1.0f),
                         v = random_floats(T * kvh * hd, r, 1.0f);
      write(e, q_off, q);
      write(e, k_off, k);
      write(e, v_off, v);
      poison(e, o_off, T * heads * hd);
      e.run(fn, dummy_ids(T), pos, 0, nullptr);
      ref_rope(q, T, heads, hd, pos, 10000.0);
      ref_rope(k, T, kvh, hd, pos, 10000.0);
      const std::string at = std::string(fn) + " T=" + std::to_string(T) + " pos=" + std::to_string(pos);
      checks.push_back({at + " k roped in place", rel_error(read(e, k_off, T * kvh * hd), k)});
      checks.push_back({at + " q roped", rel_error(read(e, q_off, T * heads * hd), q)});
      for (auto& x : k) x = round_to(cache, x);
      for (auto& x : v) x = round_to(cache, x);
      keys.insert(keys.end(), k.begin(), k.end());
      values.insert(values.end(), v.begin(), v.end());
      const auto ref = ref_attention(q, T, pos, heads, kvh, hd, att.scale, keys, values);
      checks.push_back({at + " attention", rel_error(read(e, o_off, T * heads * hd), ref)});
      pos += T;
    };
    call("prefill", prefill_T);
    for (int i = 0; i < decode_calls; ++i) call("decode", 1);
    if (decode_calls > 1 && !e.uses_graph("decode")) checks.push_back({"decode was not replayed as a graph", 1e9});
    call("prefill", 5);  // prefill after decode: continues the same cache
    return checks;
  };
  return cs;
}

Case rms_norm_case(int64_t H, DType gt, uint64_t seed) {
  Rng rng(seed);
  Case cs;
  cs.name = "rms_norm " + std::to_string(H) + " gamma " + dtype_name(gt);
  KernelSpec spec;
  spec.kind = KernelKind::RmsNorm;
  spec.cols = H;
  spec.eps = 1e-6;
  spec.weights = {{gt, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, H}};
  const FloatVec g = random_vec(gt, H, rng, 0.2f, 2.0f);
  cs.weights.push_back({spec.weights[0], g.bytes, g.values});
  ArenaPlan ap;
  const int64_t T = 5, x_off = ap.take(8 * H), o_off = ap.take(8 * H);
  cs.functions.push_back(make_function("f", 8, ap.bytes(), {make_step(spec, {arena(x_off), weight(0), arena(o_off)}, 8)}));
  cs.run = [=](Engine& e) {
    Rng r(seed + 1);
    const auto x = random_floats(T * H, r, 3.0f);
    write(e, x_off, x);
    poison(e, o_off, T * H);
    e.run("f", dummy_ids(T), 0, 0, nullptr);
    return std::vector<Check>{{"T=5", rel_error(read(e, o_off, T * H), ref_rms_norm(x, T, H, g.values, 1e-6))}};
  };
  return cs;
}

Case embedding_case(DType dt, WeightLayout layout, int64_t V, int64_t H, uint64_t seed) {
  Rng rng(seed);
  Case cs;
  cs.name = std::string("embedding ") + dtype_name(dt) + " " + layout_name(layout) + " " + std::to_string(V) + "x" +
            std::to_string(H);
  cs.vocab = V;
  cs.weights.push_back(make_weight(dt, layout, V, H, rng));
  KernelSpec spec;
  spec.kind = KernelKind::Embedding;
  spec.cols = H;
  spec.weights = {cs.weights[0].desc};
  ArenaPlan ap;
  const int64_t T = 7, o_off = ap.take(8 * H);
  cs.functions.push_back(make_function(
      "f", 8, ap.bytes(), {make_step(spec, {{ArgKind::InputIds, 0, Expr::lit(0)}, weight(0), arena(o_off)}, 8)}));
  const auto table = std::make_shared<std::vector<float>>(cs.weights[0].values);
  cs.run = [=](Engine& e) {
    Rng r(seed + 3);
    std::vector<int32_t> ids(T);
    for (auto& id : ids) id = r.below(static_cast<int>(V));
    ids[0] = static_cast<int32_t>(V - 1);
    poison(e, o_off, T * H);
    e.run("f", ids, 0, 0, nullptr);
    std::vector<float> ref;
    for (int32_t id : ids) ref.insert(ref.end(), table->begin() + id * H, table->begin() + (id + 1) * H);
    return std::vector<Check>{{"T=7", rel_error(read(e, o_off, T * H), ref)}};
  };
  return cs;
}

Case elementwise_case(KernelKind kind, int64_t cols, uint64_t seed) {
  Case cs;
  cs.name = std::string(kind == KernelKind::Silu ? "silu" : kind == KernelKind::Mul ? "mul" : "add") + " " +
            std::to_string(cols);
  KernelSpec spec;
  spec.kind = kind;
  spec.cols = cols;
  ArenaPlan ap;
  const int64_t T = 3, a_off = ap.take(4 * cols), b_off = ap.take(4 * cols), o_off = ap.take(4 * cols);
  std::vector<Arg> args{arena(a_off)};
  if (kind != KernelKind::Silu) args.push_back(arena(b_off));
  args.push_back(arena(o_off));
  cs.functions.push_back(make_function("f", 4, ap.bytes(), {make_step(spec, args, 4)}));
  cs.run = [=](Engine& e) {
    Rng r(seed);
    const auto a = random_floats(T * cols, r, 4.0f), b = random_floats(T * cols, r, 4.0f);
    write(e, a_off, a);
    write(e, b_off, b);
    poison(e, o_off, T * cols);
    e.run("f", dummy_ids(T), 0, 0, nullptr);
    std::vector<float> ref(a.size());
    for (size_t i = 0; i < a.size(); ++i)
      ref[i] = kind == KernelKind::Silu ? static_cast<float>(a[i] / (1 + std::exp(-double(a[i]))))
               : kind == KernelKind::Mul ? a[i] * b[i]
                                         : a[i] + b[i];
    return std::vector<Check>{{"T=3", rel_error(read(e, o_off, T * cols), ref)}};
  };
  return cs;
}

std::vector<Case> build_cases() {
  using L = WeightLayout;
  const auto q4k = std::make_pair(DType::Q4_K, L::CudaQ4K), q5k = std::make_pair(DType::Q5_K, L::CudaQ5K),
             q6k = std::make_pair(DType::Q6_K, L::CudaQ6K), q80 = std::make_pair(DType::Q8_0, L::CudaQ8_0),
             q50 = std::make_pair(DType::Q5_0, L::CudaQ5_0), f32 = std::make_pair(DType::F32, L::RowMajor),
             f16 = std::make_pair(DType::F16, L::RowMajor), bf16 = std::make_pair(DType::BF16, L::RowMajor);
  std::vector<Case> cs;
  uint64_t seed = 100;
  auto both = [&](LinearCaseSpec c, int64_t prefill_T) {
    c.name += " decode";
    c.tokens = {1};
    c.max_tokens = 1;
    cs.push_back(linear_case(c, seed++));
    c.name.replace(c.name.size() - 6, 6, "prefill");
    c.tokens = {prefill_T, 1};
    c.max_tokens = prefill_T + 6;
    cs.push_back(linear_case(c, seed++));
  };
  both({"linear qkv norm+bias q4_k/q4_k/q6_k", {q4k, q4k, q6k}, {300, 77, 45}, 512, true, true}, 70);
  both({"linear swiglu norm q4_k", {q4k, q4k}, {259, 259}, 768, true, false, Epilogue::SwiGLU}, 67);
  both({"linear swiglu q4_k+q8_0 (mixed widths)", {q4k, q80}, {100, 100}, 256, false, true, Epilogue::SwiGLU}, 19);
  both({"linear residual q6_k", {q6k}, {129}, 768, false, false, Epilogue::Residual}, 33);
  both({"linear q8_0+q5_0 bias", {q80, q50}, {97, 61}, 96, false, true}, 40);
  both({"linear q5_k norm", {q5k}, {70}, 256, true, false}, 65);
  both({"linear f32+f16 K=37", {f32, f16}, {33, 41}, 37, true, true}, 21);
  both({"linear f16+bf16 K=40", {f16, bf16}, {41, 17}, 40, false, false}, 9);
  both({"linear bf16 residual", {bf16}, {45}, 64, false, false, Epilogue::Residual}, 130);
  // Quantized weights left row_major (a tied model's embedding read as the logits matrix).
  const auto rq4k = std::make_pair(DType::Q4_K, L::RowMajor), rq6k = std::make_pair(DType::Q6_K, L::RowMajor),
             rq80 = std::make_pair(DType::Q8_0, L::RowMajor), rq5k = std::make_pair(DType::Q5_K, L::RowMajor),
             rq50 = std::make_pair(DType::Q5_0, L::RowMajor);
  both({"linear norm row_major q4_k/q6_k/q5_k", {rq4k, rq6k, rq5k}, {37, 21, 9}, 512, true, false}, 17);
  both({"linear row_major q8_0+q5_0 bias", {rq80, rq50}, {29, 11}, 96, false, true}, 5);
  // fp8 weights (fp8.cuh): decode gemv and the bf16 tensor-core prefill (exact in bf16: f32-class
  // accuracy), the generic tile where K is not a multiple of 32, per-tensor scales.
  const auto fp8 = std::make_pair(DType::FP8_E4M3, L::RowMajor);
  both({"linear fp8 qkv norm+bias", {fp8, fp8, fp8}, {300, 77, 45}, 512, true, true}, 70);
  both({"linear fp8 swiglu norm", {fp8, fp8}, {259, 259}, 768, true, false, Epilogue::SwiGLU}, 67);
  both({"linear fp8 K=48 bias", {fp8}, {37}, 48, false, true}, 11);
  {
    LinearCaseSpec c{"linear fp8 per-tensor residual", {fp8}, {129}, 256, false, false, Epilogue::Residual};
    c.scales = ScaleGranularity::PerTensor;
    both(c, 33);
  }
  // Prefill on the FP8 tensor cores (per-token e4m3 activations), against the reference that
  // quantizes its activations the same way. Without a norm the codes are the reference's own (only
  // the order of the f32 sums differs); with one, the f32 norm may round a value to the neighbouring
  // code now and then, hence the wider bound.
  auto fp8_prefill = [&](LinearCaseSpec c, int64_t T) {
    c.name += " prefill fp8 mma";
    c.fp8_activations = true;
    c.tokens = {T, 1};
    c.max_tokens = T + 6;
    cs.push_back(linear_case(c, seed++));
  };
  fp8_prefill({"linear fp8 qkv norm+bias", {fp8, fp8, fp8}, {300, 77, 45}, 512, true, true, Epilogue::None, {}, 1, true,
               ScaleGranularity::PerChannel, 1e-3},
              70);
  fp8_prefill({"linear fp8 swiglu norm", {fp8, fp8}, {259, 259}, 768, true, false, Epilogue::SwiGLU, {}, 1, true,
               ScaleGranularity::PerChannel, 1e-3},
              130);
  fp8_prefill({"linear fp8 residual", {fp8}, {129}, 256, false, false, Epilogue::Residual, {}, 1, true,
               ScaleGranularity::PerTensor, 1e-4},
              33);
  fp8_prefill({"linear fp8", {fp8}, {64}, 96, false, false, Epilogue::None, {}, 1, true,
               ScaleGranularity::PerChannel, 1e-4},
              64);
  // Enough rows that the decode kernel puts 4 (then 2) rows on each warp, as it does for real models.
  both({"linear R=4 norm+bias q4_k/q6_k/q8_0", {q4k, q6k, q80}, {8485, 101, 37}, 256, true, true}, 3);
  both({"linear R=2 swiglu q6_k", {q6k, q6k}, {4300, 4300}, 256, true, false, Epilogue::SwiGLU}, 2);
  both({"linear R=2 residual q5_0", {q50}, {4301}, 64, false, false, Epilogue::Residual}, 2);
  // Fewer tasks than the grid's warp slots: blocks of 14 and of 9 warps on (nearly) every SM; one
  // row a warp on blocks of 28 warps (a single weight without a norm, as o_proj and down).
  both({"linear 14-warp blocks norm q4_k", {q4k}, {3583}, 256, true, false}, 2);
  both({"linear 9-warp blocks norm+bias q6_k", {q6k}, {2301}, 256, true, true}, 2);
  both({"linear one row a warp, 28-warp blocks, residual q4_k", {q4k}, {3583}, 256, false, false, Epilogue::Residual}, 2);
  both({"linear one row a warp, 28-warp blocks, q6_k", {q6k}, {3001}, 256, false, false}, 2);
  // The decode GEMV's schedule: each warp a contiguous run of rows (runs differ by at most one row), in
  // steps of R rows with a shorter last step; runs that cross from one weight to the next.
  both({"linear runs of R=2 steps, short last step, swiglu norm q4_k", {q4k, q4k}, {9001, 9001}, 256, true, false,
        Epilogue::SwiGLU}, 2);
  both({"linear runs of R=4 steps, short last step, q6_k", {q6k}, {17011}, 256, false, false}, 2);
  both({"linear runs across weights, norm+bias q4_k/q4_k/q6_k", {q4k, q4k, q6k}, {3583, 709, 708}, 256, true, true}, 2);
  // 7B's q/k/v rows: the warps split by weight, each warp's rows in one step (3, 3 and 2 rows).
  both({"linear one step a warp, q/k/v rows of 7B, norm+bias", {q4k, q4k, q6k}, {3584, 512, 512}, 256, true, true}, 2);
  both({"linear runs of R=1, odd rows q8_0 residual", {q80}, {1001}, 96, false, false, Epilogue::Residual}, 2);
  both({"linear runs q5_k+q6_k bias", {q5k, q6k}, {77, 129}, 768, false, true}, 2);
  cs.push_back(attention_case("attention 6/2x64 f32 cache", 6, 2, 64, DType::F32, 45, 3, seed++, 1e-4));
  cs.push_back(attention_case("attention 4/4x40 f16 cache", 4, 4, 40, DType::F16, 37, 2, seed++, 1e-4));
  cs.push_back(attention_case("attention 7/1x128 bf16 cache", 7, 1, 128, DType::BF16, 3, 2, seed++, 1e-4));
  // Long contexts: decode in 32 splits of 2 (pos ~1100) and of 3 tiles (pos ~3000); prefill blocks
  // that walk some 100 tiles, each loaded while the one before is summed.
  cs.push_back(attention_case("attention 9/3x32 f32 long context", 9, 3, 32, DType::F32, 7, 2, seed++, 1e-4, 1100));
  cs.push_back(attention_case("attention 7/1x64 f16 every split", 7, 1, 64, DType::F16, 7, 2, seed++, 1e-4, 3000));
  // q rotated by the kv append (rope_qk_kv_append): odd head counts, GQA ratios 5, 3, 1 and 7, prefills
  // longer than a 32-key tile, decode past the first tile, the 7B shape (more pairs than threads).
  cs.push_back(attention_case("rope_qk_kv_append 5/1x64 f32 + attention", 5, 1, 64, DType::F32, 45, 3, seed++, 1e-4, 0, true));
  cs.push_back(attention_case("rope_qk_kv_append 9/3x32 f16 + attention past a tile", 9, 3, 32, DType::F16, 7, 2, seed++, 1e-4, 70, true));
  cs.push_back(attention_case("rope_qk_kv_append 3/3x40 bf16 + attention", 3, 3, 40, DType::BF16, 37, 2, seed++, 1e-4, 0, true));
  cs.push_back(attention_case("rope_qk_kv_append 28/4x128 f32 + attention", 28, 4, 128, DType::F32, 33, 2, seed++, 1e-4, 0, true));
  // The same in one decode kernel (rope_attention): the block of the split that holds the new row
  // appends it, a split of a few keys (pos 45), past the first tile, the last split a full tile, then
  // two tiles with the new row first and second in the second one (pos 1085-1087: splits of 34), the
  // 7B shape at the benchmark's position.
  cs.push_back(attention_case("rope_attention 5/1x64 f32", 5, 1, 64, DType::F32, 45, 3, seed++, 1e-4, 0, true, true));
  cs.push_back(attention_case("rope_attention 9/3x32 f16 past a tile", 9, 3, 32, DType::F16, 7, 2, seed++, 1e-4, 70, true, true));
  cs.push_back(attention_case("rope_attention 3/3x40 bf16", 3, 3, 40, DType::BF16, 37, 2, seed++, 1e-4, 0, true, true));
  cs.push_back(attention_case("rope_attention 7/1x64 f16 new row in a second tile", 7, 1, 64, DType::F16, 7, 3, seed++, 1e-4, 1078, true, true));
  cs.push_back(attention_case("rope_attention 28/4x128 f32 at 530", 28, 4, 128, DType::F32, 5, 3, seed++, 1e-4, 525, true, true));
  // a head wider than the block's 256 threads: each thread appends two elements of the new row
  cs.push_back(attention_case("rope_attention 2/1x384 f32", 2, 1, 384, DType::F32, 9, 2, seed++, 1e-4, 40, true, true));
  cs.push_back(rms_norm_case(777, DType::F16, seed++));
  cs.push_back(rms_norm_case(96, DType::F32, seed++));
  cs.push_back(embedding_case(DType::Q4_K, L::CudaQ4K, 1000, 512, seed++));
  cs.push_back(embedding_case(DType::Q6_K, L::RowMajor, 300, 256, seed++));
  cs.push_back(embedding_case(DType::Q8_0, L::CudaQ8_0, 77, 96, seed++));
  cs.push_back(embedding_case(DType::F16, L::RowMajor, 50, 100, seed++));
  cs.push_back(embedding_case(DType::Q5_0, L::RowMajor, 33, 64, seed++));
  // cuda tables take the matrix layouts (aprc-repack-weights; tied models share one weight)
  cs.push_back(embedding_case(DType::Q6_K, L::CudaQ6K, 301, 256, seed++));
  cs.push_back(embedding_case(DType::Q5_K, L::CudaQ5K, 129, 512, seed++));
  cs.push_back(embedding_case(DType::Q5_0, L::CudaQ5_0, 45, 96, seed++));
  cs.push_back(elementwise_case(KernelKind::Silu, 333, seed++));
  cs.push_back(elementwise_case(KernelKind::Mul, 333, seed++));
  cs.push_back(elementwise_case(KernelKind::Add, 1001, seed++));
  return cs;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = build_cases();
  return all;
}

// The tiny synthetic model: the fused schedule of the benchmarks, end to end; with `fp8`, every linear
// weight fp8e4m3 and the prefill on the FP8 tensor cores (synthetic.h).
const synthetic::Model& tiny_model(bool fp8 = false) {
  auto make = [](bool f) {
    synthetic::Config c = synthetic::config("tiny");
    c.fp8 = f;
    return synthetic::build(c, 24, 7, true, 2);
  };
  static const synthetic::Model m = make(false), m8 = make(true);
  return fp8 ? m8 : m;
}

std::string module_source() {
  std::vector<Function> fns;
  for (const auto& c : cases()) fns.insert(fns.end(), c.functions.begin(), c.functions.end());
  for (bool fp8 : {false, true}) fns.insert(fns.end(), tiny_model(fp8).functions.begin(), tiny_model(fp8).functions.end());
  return emit_module(kernels_of(fns));
}

// ---- devices and the module -------------------------------------------------------------------------

enum class Backend { Emu, Gpu };

const ModuleImage& module_for(Backend b) {
  static std::mutex mu;
  static std::map<Backend, ModuleImage> images;
  std::lock_guard<std::mutex> lock(mu);
  auto it = images.find(b);
  if (it != images.end()) return it->second;
  ModuleImage img;
  img.source = module_source();
  if (b == Backend::Gpu) {
    const char* carried = getenv("APRC_CUDA_TEST_MODULE");
    bool loaded = false;
    if (carried && *carried) {
      ModuleImage m = load_module_image(carried);
      if (m.source == img.source) {
        img = std::move(m);
        loaded = true;
      } else {
        fprintf(stderr, "note: %s was built from another source; compiling with NVRTC\n", carried);
      }
    }
    if (!loaded) {
      const CompiledModule cm = compile_module(img.source, {});
      img.cubins = cm.cubins;
      img.ptx = cm.ptx;
      img.ptx_arch = cm.ptx_arch;
    }
  }
  return images.emplace(b, std::move(img)).first->second;
}

struct Row {
  std::string backend, name, what;
  double err, tol;
};
std::vector<Row>& table() {
  static std::vector<Row> rows;
  return rows;
}

class CudaKernelTest : public ::testing::TestWithParam<std::tuple<Backend, size_t>> {};

TEST_P(CudaKernelTest, MatchesReference) {
  const auto [backend, index] = GetParam();
  const Case& c = cases()[index];
  std::unique_ptr<Device> dev;
  if (backend == Backend::Gpu) {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no GPU here: " << why;
    dev = open_cuda_device();
  } else {
    if (const char* s = getenv("APRC_SKIP_EMU"); s && *s == '1') GTEST_SKIP() << "APRC_SKIP_EMU=1";
    dev = std::make_unique<EmuDevice>();
  }
  std::vector<std::span<const uint8_t>> ws;
  for (const auto& w : c.weights) ws.emplace_back(w.bytes);
  EngineOptions opt;
  opt.vocab = c.vocab;
  opt.context = c.context;
  Engine engine(std::move(dev), module_for(backend), c.functions, ws, c.kv, opt);
  for (const Check& k : c.run(engine)) {
    table().push_back({backend == Backend::Gpu ? "gpu" : "emu", c.name, k.what, k.err, c.tol});
    EXPECT_LE(k.err, c.tol) << c.name << ": " << k.what;
  }
}

std::string case_label(const ::testing::TestParamInfo<std::tuple<Backend, size_t>>& info) {
  std::string n = std::string(std::get<0>(info.param) == Backend::Gpu ? "gpu_" : "emu_") + cases()[std::get<1>(info.param)].name;
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n + "_" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Kernels, CudaKernelTest,
                         ::testing::Combine(::testing::Values(Backend::Emu, Backend::Gpu),
                                            ::testing::Range<size_t>(0, cases().size())),
                         case_label);

// A double-precision forward pass of the synthetic model, from its dequantized weights. For an fp8
// model, a prefill (more than one token) quantizes the input of every product of fp8 weights per
// token to e4m3 first, as its kernels do.
class ReferenceModel {
 public:
  explicit ReferenceModel(const synthetic::Model& m) : m_(m), c_(m.cfg) {
    for (size_t i = 0; i < m.weights.size(); ++i) {
      const WeightDesc& w = m.weights[i];
      std::vector<float> v(static_cast<size_t>(w.rows * w.cols));
      dequantize_rows_in_layout(w.layout, TensorView{w.dtype, {w.rows, w.cols}, m.bytes[i]}, 0, w.rows, v.data());
      W_.push_back(std::move(v));
      index_[m.weight_names[i]] = i;
    }
    keys_.resize(c_.layers);
    values_.resize(c_.layers);
  }
  // Runs T tokens at the current position; returns the logits of the last one.
  std::vector<float> forward(const std::vector<int32_t>& ids) {
    const int64_t T = static_cast<int64_t>(ids.size()), H = c_.hidden, QD = c_.heads * c_.head_dim,
                  KD = c_.kv_heads * c_.head_dim;
    fp8_act_ = c_.fp8 && T > 1;
    std::vector<float> x;
    for (int32_t id : ids) x.insert(x.end(), w("token_embd").begin() + id * H, w("token_embd").begin() + (id + 1) * H);
    for (int64_t l = 0; l < c_.layers; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      const auto h = ref_rms_norm(x, T, H, w(p + "attn_norm"), c_.eps);
      auto q = matmul(h, T, H, w(p + "attn.q_proj"), QD, &w(p + "attn.q_bias"));
      auto k = matmul(h, T, H, w(p + "attn.k_proj"), KD, &w(p + "attn.k_bias"));
      const auto v = matmul(h, T, H, w(p + "attn.v_proj"), KD, &w(p + "attn.v_bias"));
      ref_rope(q, T, c_.heads, c_.head_dim, pos_, c_.theta);
      ref_rope(k, T, c_.kv_heads, c_.head_dim, pos_, c_.theta);
      keys_[l].insert(keys_[l].end(), k.begin(), k.end());
      values_[l].insert(values_[l].end(), v.begin(), v.end());
      const auto att = ref_attention(q, T, pos_, c_.heads, c_.kv_heads, c_.head_dim, 1.0 / std::sqrt(double(c_.head_dim)),
                                     keys_[l], values_[l]);
      const auto o = matmul(att, T, QD, w(p + "attn.o_proj"), H, nullptr);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      const auto h2 = ref_rms_norm(x, T, H, w(p + "mlp_norm"), c_.eps);
      const auto g = matmul(h2, T, H, w(p + "mlp.gate_proj"), c_.intermediate, nullptr);
      const auto u = matmul(h2, T, H, w(p + "mlp.up_proj"), c_.intermediate, nullptr);
      std::vector<float> a(g.size());
      for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(g[i] / (1 + std::exp(-double(g[i]))) * u[i]);
      const auto d = matmul(a, T, c_.intermediate, w(p + "mlp.down_proj"), H, nullptr);
      for (size_t i = 0; i < x.size(); ++i) x[i] += d[i];
    }
    pos_ += T;
    const std::vector<float> last(x.end() - H, x.end());
    // Only a product of fp8 weights quantizes its input (the output projection keeps its encoding).
    const std::string output = c_.tied ? "token_embd" : "output";
    fp8_act_ = fp8_act_ && m_.weights[index_.at(output)].dtype == DType::FP8_E4M3;
    return matmul(ref_rms_norm(last, 1, H, w("final_norm"), c_.eps), 1, H, w(output), c_.vocab, nullptr);
  }

 private:
  const std::vector<float>& w(const std::string& name) { return W_[index_.at(name)]; }
  std::vector<float> matmul(std::vector<float> in, int64_t T, int64_t K, const std::vector<float>& W, int64_t N,
                            const std::vector<float>* bias) const {
    if (fp8_act_) fp8_per_token(in, T, K);
    std::vector<float> out(static_cast<size_t>(T * N));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) {
        double s = bias ? (*bias)[n] : 0.0;
        for (int64_t k = 0; k < K; ++k) s += double(in[t * K + k]) * W[n * K + k];
        out[t * N + n] = static_cast<float>(s);
      }
    return out;
  }
  const synthetic::Model& m_;
  synthetic::Config c_;
  std::vector<std::vector<float>> W_;
  std::map<std::string, size_t> index_;
  std::vector<std::vector<float>> keys_, values_;
  int64_t pos_ = 0;
  bool fp8_act_ = false;
};

class CudaModelTest : public ::testing::TestWithParam<std::tuple<Backend, bool>> {};

TEST_P(CudaModelTest, SyntheticModelMatchesReferenceForward) {
  const Backend backend = std::get<0>(GetParam());
  const bool fp8 = std::get<1>(GetParam());
  // fp8: the GPU's f32 norm may round an activation to the neighbouring e4m3 code where the
  // reference's double norm does not, and that difference travels through the layers.
  const double tol = fp8 ? 1e-2 : 1e-3;
  const std::string model_name = fp8 ? "tiny fp8 model" : "tiny model";
  std::unique_ptr<Device> dev;
  if (backend == Backend::Gpu) {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no GPU here: " << why;
    dev = open_cuda_device();
  } else {
    if (const char* s = getenv("APRC_SKIP_EMU"); s && *s == '1') GTEST_SKIP() << "APRC_SKIP_EMU=1";
    dev = std::make_unique<EmuDevice>();
  }
  const synthetic::Model& m = tiny_model(fp8);
  std::vector<std::span<const uint8_t>> ws;
  for (const auto& b : m.bytes) ws.emplace_back(b);
  EngineOptions opt;
  opt.vocab = m.cfg.vocab;
  opt.context = 64;
  Engine engine(std::move(dev), module_for(backend), m.functions, ws, m.kv, opt);
  ReferenceModel ref(m);
  const std::string dev_name = backend == Backend::Gpu ? "gpu" : "emu";
  std::vector<int32_t> prompt{5, 999, 0, 17, 256, 3, 77, 512, 640, 1, 42};
  std::vector<float> logits;
  engine.run("prefill_last", prompt, 0, 1, &logits);
  double err = rel_error(logits, ref.forward(prompt));
  table().push_back({dev_name, model_name, "prefill 11 tokens, last logits", err, tol});
  EXPECT_LE(err, tol);
  int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (int i = 0; i < 5; ++i) {
    engine.run("decode", std::vector<int32_t>{next}, 11 + i, 1, &logits);
    err = rel_error(logits, ref.forward({next}));
    table().push_back({dev_name, model_name, "decode pos " + std::to_string(11 + i), err, tol});
    EXPECT_LE(err, tol) << "decode step " << i;
    next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  EXPECT_TRUE(engine.uses_graph("decode"));
}

INSTANTIATE_TEST_SUITE_P(Model, CudaModelTest,
                         ::testing::Combine(::testing::Values(Backend::Emu, Backend::Gpu), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Backend, bool>>& i) {
                           return std::string(std::get<0>(i.param) == Backend::Gpu ? "gpu" : "emu") +
                                  (std::get<1>(i.param) ? "_fp8" : "");
                         });

// The tiny model written as a real plan (PlanWriter, the cuda sections of write_cuda_target), opened
// through aprc::Engine (open_engine(plan, "cuda"); the emulator through open_cuda_engine).
const std::string& tiny_plan_path() {
  static const std::string path = [] {
    const synthetic::Model& m = tiny_model();
    const std::string p = ::testing::TempDir() + "aprc_cuda_tiny_" + std::to_string(getpid()) + ".plan";
    PlanWriter writer(p);
    for (size_t i = 0; i < m.weights.size(); ++i) {
      PlanWeight w;
      w.name = w.source = m.weight_names[i];
      w.dtype = m.weights[i].dtype;
      w.layout = m.weights[i].layout;
      w.shape = m.weights[i].rows == 1 ? std::vector<int64_t>{m.weights[i].cols}
                                       : std::vector<int64_t>{m.weights[i].rows, m.weights[i].cols};
      writer.add_weight(w, m.bytes[i]);
    }
    PlanManifest man;
    man.config.hidden_size = m.cfg.hidden;
    man.config.num_layers = m.cfg.layers;
    man.config.num_heads = m.cfg.heads;
    man.config.num_kv_heads = m.cfg.kv_heads;
    man.config.head_dim = m.cfg.head_dim;
    man.config.intermediate_size = m.cfg.intermediate;
    man.config.vocab_size = m.cfg.vocab;
    man.config.rope_theta = m.cfg.theta;
    man.config.max_position_embeddings = 64;
    man.tokenizer = aprc::test::small_tokenizer();
    man.kv_cache = KvCacheGeometry{m.kv.layers, m.kv.kv_heads, m.kv.head_dim, m.kv.dtype, 64};
    man.weights = writer.weights();
    PlanTarget t;
    t.name = "cuda";
    t.functions = m.functions;
    write_cuda_target(writer, t, {});
    man.targets.push_back(std::move(t));
    writer.finish(man);
    return p;
  }();
  return path;
}

// The tiny plan's engine on the GPU or the emulator; null (with `why`) where that backend is not here.
std::unique_ptr<aprc::Engine> open_tiny_engine(Backend b, const std::shared_ptr<const Plan>& plan, std::string* why) {
  if (b == Backend::Gpu) {
    if (cuda_available(why)) return open_engine(plan, "cuda");
    *why = "no GPU here: " + *why;
    return nullptr;
  }
  if (const char* s = getenv("APRC_SKIP_EMU"); s && *s == '1') {
    *why = "APRC_SKIP_EMU=1";
    return nullptr;
  }
  return open_cuda_engine(plan, {}, std::make_unique<EmuDevice>());
}

// The tiny plan (Q4_K_M-style; the fp8 model runs in SyntheticModelMatchesReferenceForward) through
// aprc::Engine, on the emulator and the GPU.
class CudaPlanEngineTest : public ::testing::TestWithParam<Backend> {};

TEST_P(CudaPlanEngineTest, PlanRunsThroughTheEngineInterface) {
  auto plan = Plan::open(tiny_plan_path());
  std::string why;
  std::unique_ptr<aprc::Engine> engine = open_tiny_engine(GetParam(), plan, &why);
  if (!engine) GTEST_SKIP() << why;
  EXPECT_EQ(engine->kind(), "cuda");
  EXPECT_EQ(engine->context(), 64);
  const PlanTarget& t = *plan->target("cuda");
  EXPECT_EQ(t.cuda_archs, std::vector<std::string>{"sm_90"});
  EXPECT_TRUE(t.has_ptx);
  ReferenceModel ref(tiny_model());
  std::vector<int32_t> prompt{7, 3, 999, 42, 0, 500, 1};
  std::vector<float> logits(static_cast<size_t>(tiny_model().cfg.vocab));
  engine->run(*t.function("prefill_last"), prompt, 0, logits.data());
  double err = rel_error(logits, ref.forward(prompt));
  const std::string dev = GetParam() == Backend::Gpu ? "gpu" : "emu";
  table().push_back({dev, "tiny plan via aprc::Engine", "prefill_last 7 tokens", err, 1e-3});
  EXPECT_LE(err, 1e-3);
  for (int i = 0; i < 3; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    engine->run(*t.function("decode"), std::vector<int32_t>{next}, 7 + i, logits.data());
    err = rel_error(logits, ref.forward({next}));
    table().push_back({dev, "tiny plan via aprc::Engine", "decode pos " + std::to_string(7 + i), err, 1e-3});
    EXPECT_LE(err, 1e-3);
  }
  // Greedy decoding on the device (the sampler kernel after each graph replay, positions moved on by
  // it) picks the tokens that run() and an argmax here pick from the same position.
  const int32_t first = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> on_device(6, -1);
  EXPECT_EQ(engine->greedy_run(), 8) << "the engine picks greedy tokens itself: runs of them save round trips";
  ASSERT_TRUE(engine->decode_greedy(*t.function("decode"), first, 10, on_device));
  int32_t next = first;
  for (int i = 0; i < 6; ++i) {
    engine->run(*t.function("decode"), std::vector<int32_t>{next}, 10 + i, logits.data());
    next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(on_device[i], next) << "token " << i;
  }
}

// With a step observer: every step reported in order, each timed, and outputs readable after it.
TEST_P(CudaPlanEngineTest, StepObserverSeesEveryStep) {
  auto plan = Plan::open(tiny_plan_path());
  std::string why;
  std::unique_ptr<aprc::Engine> engine = open_tiny_engine(GetParam(), plan, &why);
  if (!engine) GTEST_SKIP() << why;
  const synthetic::Model& m = tiny_model();
  struct Recorder : StepObserver {
    int64_t hidden = 0;
    std::vector<size_t> seen;
    std::vector<double> seconds;
    std::vector<float> embedded;  // step 0's output row
    bool wants_timing() const override { return true; }
    void after_step(const StepEvent& e) override {
      seen.push_back(e.index);
      seconds.push_back(e.seconds);
      if (e.index == 0) {
        embedded.resize(static_cast<size_t>(hidden));
        e.buffers.read(2, 0, embedded.size() * 4, embedded.data());  // embedding: (ids, table, out)
      }
    }
  } rec;
  rec.hidden = m.cfg.hidden;
  engine->set_step_observer(&rec);
  EXPECT_EQ(engine->greedy_run(), 1) << "an observed engine decodes step by step";
  const PlanTarget& t = *plan->target("cuda");
  const int32_t id = 321;
  std::vector<float> logits(static_cast<size_t>(m.cfg.vocab));
  engine->run(*t.function("decode"), std::vector<int32_t>{id}, 0, logits.data());
  ASSERT_EQ(rec.seen.size(), t.function("decode")->steps.size());
  for (size_t i = 0; i < rec.seen.size(); ++i) EXPECT_EQ(rec.seen[i], i);
  if (GetParam() == Backend::Gpu) {
    for (double sec : rec.seconds) EXPECT_GT(sec, 0.0);
  }
  std::vector<float> row(static_cast<size_t>(m.cfg.hidden));
  const WeightDesc& table = m.weights[0];
  dequantize_rows_in_layout(table.layout, TensorView{table.dtype, {table.rows, table.cols}, m.bytes[0]}, id, id + 1, row.data());
  EXPECT_EQ(rec.embedded, row);
  // The observed call gave the same logits as the reference, and calls without an observer go on.
  ReferenceModel ref(m);
  EXPECT_LE(rel_error(logits, ref.forward({id})), 1e-3);
  engine->set_step_observer(nullptr);
  engine->run(*t.function("decode"), std::vector<int32_t>{7}, 1, logits.data());
  EXPECT_LE(rel_error(logits, ref.forward({7})), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Plan, CudaPlanEngineTest, ::testing::Values(Backend::Emu, Backend::Gpu),
                         [](const ::testing::TestParamInfo<Backend>& i) { return i.param == Backend::Gpu ? "gpu" : "emu"; });

TEST(CudaPlan, RefusesPlansItCannotRun) {
  auto plan = Plan::open(tiny_plan_path());
  ModuleImage img = module_image_of(*plan);
  EXPECT_EQ(img.cubins.size(), 1u);
  EXPECT_EQ(img.ptx_arch, 90);
  EXPECT_FALSE(img.source.empty());
  // What each card loads: the sm_90 cubin on sm_90, the PTX on newer cards, nothing on older ones.
  EXPECT_EQ(select_code(img, 90).what, "cubin sm_90");
  EXPECT_EQ(select_code(img, 90).data, img.cubins[0].second.data());
  EXPECT_EQ(select_code(img, 100).what, "PTX compute_90 (JIT for sm_100)");
  auto refused = [](const ModuleImage& image, int cc, const std::string& want) {
    try {
      select_code(image, cc);
      ADD_FAILURE() << "sm_" << cc << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  refused(img, 89, "built for sm_90 compute_90 (PTX); this GPU is sm_89: compile the plan with --target cuda:sm_89");
  // a plan whose cubins are for another card and that has no PTX
  ModuleImage other = img;
  other.cubins[0].first = 80;
  other.ptx.clear();
  other.ptx_arch = 0;
  EXPECT_EQ(select_code(other, 86).what, "cubin sm_80");  // same major version, older minor
  refused(other, 90, "built for sm_80; this GPU is sm_90");
  std::string why;
  if (!cuda_available(&why)) {
    try {
      open_engine(plan, "cuda");
      ADD_FAILURE() << "opened a cuda engine without a GPU";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find("cannot run the cuda engine here"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaCodegen, EveryKernelCompilesWithNvrtcForSm90AndPtx) {
  const CompiledModule m = compile_module(module_source(), {});
  ASSERT_EQ(m.cubins.size(), 1u);
  EXPECT_EQ(m.cubins[0].first, 90);
  EXPECT_GT(m.cubins[0].second.size(), 1000u);
  EXPECT_EQ(m.ptx_arch, 90);
  EXPECT_NE(m.ptx.find(".target sm_90"), std::string::npos);
  EXPECT_NE(m.ptx.find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"), std::string::npos);
  // The fp8 prefill runs on the FP8 tensor cores with hardware conversions (fp8.cuh).
  EXPECT_NE(m.ptx.find("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32"), std::string::npos);
  EXPECT_NE(m.ptx.find("cvt.rn.satfinite.e4m3x2.f32"), std::string::npos);
  EXPECT_NE(m.ptx.find("cvt.rn.f16x2.e4m3x2"), std::string::npos);
}

TEST(CudaCodegen, OtherArchitecturesOnRequest) {
  CompileOptions o;
  o.archs = {80, 89};
  const CompiledModule m = compile_module(module_source(), o);
  ASSERT_EQ(m.cubins.size(), 2u);
  EXPECT_EQ(m.ptx_arch, 80);
  EXPECT_NE(m.ptx.find(".target sm_80"), std::string::npos);
  // sm_80 has no FP8 tensor cores: the fp8 tile runs the instruction's shuffle model there.
  EXPECT_EQ(m.ptx.find(".e4m3"), std::string::npos);
  o.archs = {75};
  EXPECT_THROW(compile_module("", o), Error);
}

// fuse_decode_steps joins a decode function's rope_qk_kv_append and the attention on its q and cache
// (every value both wrote stays an output), and leaves them apart where the attention's output would
// share bytes with the appended k or v (the fused kernel's last blocks write it while other blocks
// may still read them), in prefill functions, and where another step comes between.
TEST(CudaCodegen, RopeJoinsTheDecodeAttentionWhereTheOutputLeavesKAndV) {
  const int64_t heads = 4, kvh = 2, hd = 64;
  const KernelSpec kva = kv_append_spec(heads, kvh, hd, DType::F32), att = attention_spec(heads, kvh, hd, DType::F32);
  KernelSpec silu;
  silu.kind = KernelKind::Silu;
  silu.cols = heads * hd;
  // q [0, 1024), k [1024, 1536), v [1536, 2048); the attention's output at `out`
  auto decode = [&](int64_t out, int64_t max_tokens, bool step_between) {
    std::vector<Step> steps{
        make_step(kva, {arena(1024), arena(1536), cache_arg(false, 0), cache_arg(true, 0), arena(0)}, max_tokens),
        make_step(att, {arena(0), cache_arg(false, 0), cache_arg(true, 0), arena(out)}, max_tokens)};
    steps[0].outputs = {{"q_rope", 4, 0, heads * hd, heads * hd, Expr::tokens()}, {"k_rope", 0, 0, kvh * hd, kvh * hd, Expr::tokens()}};
    steps[1].outputs = {{"attention", 3, 0, heads * hd, heads * hd, Expr::tokens()}};
    steps[0].ops = {"q_rope", "k_rope", "kv_append"};
    steps[1].ops = {"attention"};
    if (step_between) steps.insert(steps.begin() + 1, make_step(silu, {arena(4096), arena(5120)}, max_tokens));
    Function f = make_function("decode", max_tokens, 8192, std::move(steps));
    fuse_decode_steps(f);
    return f;
  };
  const Function fused = decode(2048, 1, false);
  ASSERT_EQ(fused.steps.size(), 1u);
  const Step& s = fused.steps[0];
  EXPECT_TRUE(s.spec.rope);
  EXPECT_EQ(s.kernel.rfind("rope_attention_", 0), 0u) << s.kernel;
  ASSERT_EQ(s.args.size(), 6u);
  EXPECT_EQ(s.args[4], arena(1024));
  EXPECT_EQ(s.args[5], arena(1536));
  std::map<std::string, int> outputs;
  for (const OutputName& o : s.outputs) outputs[o.op] = o.arg;
  EXPECT_EQ(outputs, (std::map<std::string, int>{{"attention", 3}, {"q_rope", 0}, {"k_rope", 4}}));
  EXPECT_EQ(s.ops, (std::vector<std::string>{"q_rope", "k_rope", "kv_append", "attention"}));
  EXPECT_EQ(decode(1024, 1, false).steps.size(), 2u) << "the output over k";
  EXPECT_EQ(decode(1536 - 64, 1, false).steps.size(), 2u) << "the output over the end of k and v";
  EXPECT_EQ(decode(2048, 64, false).steps.size(), 2u) << "a prefill function";
  EXPECT_EQ(decode(2048, 1, true).steps.size(), 3u) << "a step between";
}

class TablePrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    if (table().empty()) return;
    printf("\n%-4s %-44s %-36s %10s %8s\n", "dev", "case", "check", "rel.err", "tol");
    for (const auto& r : table())
      printf("%-4s %-44s %-36s %10.2e %8.0e %s\n", r.backend.c_str(), r.name.substr(0, 44).c_str(),
             r.what.substr(0, 36).c_str(), r.err, r.tol, r.err <= r.tol ? "ok" : "FAIL");
  }
};
const auto* const kPrinter = ::testing::AddGlobalTestEnvironment(new TablePrinter);

}  // namespace
}  // namespace aprc::cuda::test

// --write-module FILE: compile the test module here (NVRTC, no GPU) for carrying to a GPU machine.
int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--write-module") {
      aprc::cuda::ModuleImage img;
      img.source = aprc::cuda::test::module_source();
      const auto cm = aprc::cuda::compile_module(img.source, {});
      img.cubins = cm.cubins;
      img.ptx = cm.ptx;
      img.ptx_arch = cm.ptx_arch;
      aprc::cuda::save_module_image(img, argv[i + 1]);
      printf("wrote %s\n", argv[i + 1]);
      return 0;
    }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
