// The schedule builder, checked by running its schedules: a plain C++ executor implements every
// KernelKind as kernel_spec.h defines it (arguments in its order, the parallel extent cut into
// uneven chunks, the KV cache in its documented layout) and runs each lowered function's steps on
// one arena, weights materialized in their planned layouts. Its logits must equal the reference
// interpreter's on the original module, and every output a step names for verify must hold the
// original op's value of that name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "aprc/codegen/schedule_builder.h"
#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/passes/pipeline.h"
#include "ir_test_model.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

using reference::Activation;
using reference::RecordedValues;
using testing::relative_error;

// Weights by weights-table index, in their planned encodings and layouts.
struct WeightTable {
  std::vector<PlanWeight> decls;
  std::vector<std::vector<uint8_t>> bytes;

  TensorView view(const Arg& a, const WeightDesc& d) const {
    const PlanWeight& w = decls.at(a.index);
    EXPECT_EQ(w.dtype, d.dtype) << w.name;
    EXPECT_EQ(w.layout, d.layout) << w.name;
    EXPECT_EQ(w.rows(), d.rows) << w.name;
    EXPECT_EQ(w.cols(), d.cols) << w.name;
    return TensorView{w.dtype, w.shape, bytes.at(a.index), w.scales};
  }
};

// A weight as a kernel reads it: its rows dequantized on demand.
struct WeightIn {
  TensorView view;
  WeightLayout layout;
  std::vector<float> row(int64_t r) const {
    std::vector<float> out(static_cast<size_t>(view.cols()));
    dequantize_rows_in_layout(layout, view, r, r + 1, out.data());
    return out;
  }
};

double silu(double x) { return x / (1 + std::exp(-x)); }

// Every KernelKind, on raw pointers, for the chunk [begin, end) of the step's extent.
class ReferenceExecutor {
 public:
  ReferenceExecutor(const WeightTable& weights, const KvCacheGeometry& kv) : weights_(weights), kv_(kv) {
    const size_t per_layer = static_cast<size_t>(kv.max_context * kv.kv_heads * kv.head_dim);
    for (int64_t l = 0; l < kv.layers; ++l) {
      cache_k_.emplace_back(per_layer, std::numeric_limits<float>::quiet_NaN());
      cache_v_.emplace_back(per_layer, std::numeric_limits<float>::quiet_NaN());
    }
  }

  // Runs `f` on `ids` at `pos`; returns `logit_rows` rows of `vocab` logits. Records each step's
  // named outputs right after the step.
  Activation run(const Function& f, std::span<const int32_t> ids, int64_t pos, int64_t logit_rows, int64_t vocab,
                 RecordedValues* outputs) {
    const int64_t T = static_cast<int64_t>(ids.size());
    EXPECT_LE(T, f.max_tokens);
    std::vector<uint8_t> arena(static_cast<size_t>(f.arena_bytes), 0xFF);  // NaN everywhere
    Activation logits(logit_rows, vocab);
    std::fill(logits.data.begin(), logits.data.end(), std::numeric_limits<float>::quiet_NaN());
    for (const Step& s : f.steps) {
      std::vector<void*> args;
      for (const Arg& a : s.args) {
        const int64_t offset = a.offset.eval(T, pos);
        switch (a.kind) {
          case ArgKind::Arena: EXPECT_LE(offset, f.arena_bytes); args.push_back(arena.data() + offset); break;
          case ArgKind::Logits: args.push_back(reinterpret_cast<uint8_t*>(logits.data.data()) + offset); break;
          case ArgKind::InputIds: args.push_back(const_cast<int32_t*>(ids.data()) + offset / 4); break;
          case ArgKind::CacheK: args.push_back(cache_k_.at(a.index).data() + offset / 4); break;
          case ArgKind::CacheV: args.push_back(cache_v_.at(a.index).data() + offset / 4); break;
          case ArgKind::Weight: args.push_back(const_cast<Arg*>(&a)); break;  // resolved by the kernel
        }
      }
      std::vector<int64_t> scalars;
      for (const Expr& e : s.scalars) scalars.push_back(e.eval(T, pos));
      const int64_t extent = s.extent.eval(T, pos);
      // Uneven chunks, as threads would get them: 1, a grain multiple, an odd size, the rest.
      int64_t sizes[] = {1, 2 * s.grain, 3, extent};
      for (int64_t b = 0, i = 0; b < extent; ++i) {
        const int64_t e = std::min(extent, b + sizes[i % 4]);
        kernel(s, args, scalars, b, e);
        b = e;
      }
      if (outputs)
        for (const OutputName& o : s.outputs) {
          const int64_t rows = o.rows.eval(T, pos);
          Activation v(rows, o.cols);
          const float* base = static_cast<const float*>(args.at(o.arg));
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(v.row(r), base + r * o.row_stride + o.col_offset, o.cols * sizeof(float));
          outputs->values[o.op] = v;
        }
    }
    return logits;
  }

 private:
  WeightIn weight(const std::vector<void*>& args, size_t i, const WeightDesc& d) const {
    const Arg& a = *static_cast<const Arg*>(args.at(i));
    EXPECT_EQ(a.kind, ArgKind::Weight);
    return WeightIn{weights_.view(a, d), d.layout};
  }

  static std::vector<double> normalized(const float* x, int64_t n, const std::vector<float>& gamma, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    std::vector<double> out(n);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * gamma[i];
    return out;
  }

  void rotate(float* x, int64_t heads, int64_t head_dim, double theta, int64_t position) const {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        const double angle = position * std::pow(theta, -2.0 * i / head_dim);
        float* a = x + h * head_dim + i;
        float* b = a + head_dim / 2;
        const double xa = *a, xb = *b;
        *a = static_cast<float>(xa * std::cos(angle) - xb * std::sin(angle));
        *b = static_cast<float>(xb * std::cos(angle) + xa * std::sin(angle));
      }
  }

  void kernel(const Step& s, const std::vector<void*>& a, const std::vector<int64_t>& scalars, int64_t begin, int64_t end) {
    const KernelSpec& k = s.spec;
    const int64_t T = scalars.at(0), pos = scalars.at(1);
    auto f32 = [&](size_t i) { return static_cast<float*>(a.at(i)); };
    switch (k.kind) {
      case KernelKind::Embedding: {
        const WeightIn table = weight(a, 1, k.weights[0]);
        for (int64_t t = begin; t < end; ++t) {
          const std::vector<float> row = table.row(static_cast<const int32_t*>(a[0])[t]);
          std::memcpy(f32(2) + t * k.cols, row.data(), k.cols * sizeof(float));
        }
        return;
      }
      case KernelKind::RmsNorm: {
        const std::vector<float> gamma = weight(a, 1, k.weights[0]).row(0);
        for (int64_t t = begin; t < end; ++t) {
          const std::vector<double> y = normalized(f32(0) + t * k.cols, k.cols, gamma, k.eps);
          for (int64_t c = 0; c < k.cols; ++c) f32(2)[t * k.cols + c] = static_cast<float>(y[c]);
        }
        return;
      }
      case KernelKind::Linear: return linear(s, a, T, begin, end);
      case KernelKind::Rope:
        for (int64_t t = begin; t < end; ++t) rotate(f32(0) + t * k.heads * k.head_dim, k.heads, k.head_dim, k.theta, pos + t);
        return;
      case KernelKind::KvAppend: {
        const int64_t w = k.kv_heads * k.head_dim;
        for (int64_t t = begin; t < end; ++t) {
          if (k.rope) rotate(f32(0) + t * w, k.kv_heads, k.head_dim, k.theta, pos + t);
          if (k.heads > 0) rotate(f32(4) + t * k.heads * k.head_dim, k.heads, k.head_dim, k.theta, pos + t);  // q too
          std::memcpy(f32(2) + (pos + t) * w, f32(0) + t * w, w * sizeof(float));
          std::memcpy(f32(3) + (pos + t) * w, f32(1) + t * w, w * sizeof(float));
        }
        return;
      }
      case KernelKind::Attention: {
        const int64_t d = k.head_dim, qw = k.heads * d, kw = k.kv_heads * d, group = k.heads / k.kv_heads;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t h = begin; h < end; ++h) {
            const float* q = f32(0) + t * qw + h * d;
            const int64_t g = h / group, n = pos + t + 1;
            std::vector<double> score(n);
            double top = -INFINITY, sum = 0;
            for (int64_t p = 0; p < n; ++p) {
              double dot = 0;
              for (int64_t i = 0; i < d; ++i) dot += double(q[i]) * f32(1)[p * kw + g * d + i];
              top = std::max(top, score[p] = dot * k.scale);
            }
            for (double& sc : score) sum += sc = std::exp(sc - top);
            for (int64_t i = 0; i < d; ++i) {
              double acc = 0;
              for (int64_t p = 0; p < n; ++p) acc += score[p] * f32(2)[p * kw + g * d + i];
              f32(3)[t * qw + h * d + i] = static_cast<float>(acc / sum);
            }
          }
        return;
      }
      case KernelKind::Silu:
        for (int64_t i = begin * k.cols; i < end * k.cols; ++i) f32(1)[i] = static_cast<float>(silu(f32(0)[i]));
        return;
      case KernelKind::Mul:
        for (int64_t i = begin * k.cols; i < end * k.cols; ++i) f32(2)[i] = f32(0)[i] * f32(1)[i];
        return;
      case KernelKind::Add:
        for (int64_t i = begin * k.cols; i < end * k.cols; ++i) f32(2)[i] = f32(0)[i] + f32(1)[i];
        return;
    }
  }

  // Rows [begin, end) of the weights (concatenated for epilogue none), for every token.
  void linear(const Step& s, const std::vector<void*>& a, int64_t T, int64_t begin, int64_t end) {
    const KernelSpec& k = s.spec;
    const size_t n = k.weights.size();
    size_t i = 1;
    std::vector<float> gamma;
    if (k.has_norm) gamma = weight(a, i++, k.norm).row(0);
    const float* residual = k.epilogue == Epilogue::Residual ? static_cast<const float*>(a.at(i++)) : nullptr;
    std::vector<WeightIn> w, b;
    for (size_t j = 0; j < n; ++j) w.push_back(weight(a, i++, k.weights[j]));
    for (size_t j = 0; j < k.biases.size(); ++j) b.push_back(weight(a, i++, k.biases[j]));
    const size_t first_output = i;
    const int64_t K = k.weights[0].cols;
    const float* x = static_cast<const float*>(a[0]);
    auto dot = [&](size_t j, int64_t row, int64_t t) {
      const std::vector<float> wr = w[j].row(row);
      double acc = b.empty() ? 0.0 : b[j].row(0)[row];
      if (k.has_norm) {
        const std::vector<double> xn = normalized(x + t * K, K, gamma, k.eps);
        for (int64_t c = 0; c < K; ++c) acc += xn[c] * wr[c];
      } else {
        for (int64_t c = 0; c < K; ++c) acc += double(x[t * K + c]) * wr[c];
      }
      return acc;
    };
    for (int64_t r = begin; r < end; ++r) {
      if (k.epilogue == Epilogue::None) {
        size_t j = 0;
        int64_t row = r;
        while (row >= k.weights[j].rows) row -= k.weights[j++].rows;
        const int64_t N = k.weights[j].rows;
        for (int64_t t = 0; t < T; ++t) static_cast<float*>(a.at(first_output + j))[t * N + row] = static_cast<float>(dot(j, row, t));
        continue;
      }
      const int64_t N = k.weights[0].rows;
      float* out = static_cast<float*>(a.at(first_output));
      for (int64_t t = 0; t < T; ++t) {
        const double y = k.epilogue == Epilogue::SwiGLU ? silu(dot(0, r, t)) * dot(1, r, t) : residual[t * N + r] + dot(0, r, t);
        out[t * N + r] = static_cast<float>(y);
      }
    }
  }

  const WeightTable& weights_;
  KvCacheGeometry kv_;
  std::vector<std::vector<float>> cache_k_, cache_v_;
};

// The lowered module's weights, each materialized from its model tensor in its planned type.
WeightTable materialize(const ir::Module& lowered, const Model& model) {
  WeightTable table;
  table.decls = codegen::declared_weights(lowered);
  for (const PlanWeight& w : table.decls)
    table.bytes.push_back(convert_weight(model.tensor(w.source).view(), w.dtype, w.scales, w.layout));
  return table;
}

const Function& function(const std::vector<Function>& fs, const std::string& name) {
  for (const Function& f : fs)
    if (f.name == name) return f;
  throw std::runtime_error("no function " + name);
}

void expect_outputs_equal(const RecordedValues& got, const RecordedValues& want, double tolerance) {
  ASSERT_FALSE(got.values.empty());
  for (const auto& [name, value] : got.values) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(want.values.count(name)) << "the reference computes no value of this name";
    EXPECT_LE(relative_error(value, want.values.at(name)), tolerance);
  }
}

struct Mix {
  const char* name;
  testing::TestModelSpec spec;
  const char* pipeline;
};

TEST(ScheduleBuilder, SchedulesComputeWhatTheInterpreterComputes) {
  testing::TestModelSpec odd;  // odd sizes: float encodings take rows of any length
  odd.hidden = 70, odd.heads = 3, odd.kv_heads = 1, odd.head_dim = 22, odd.intermediate = 97, odd.vocab = 131;
  odd.embed = odd.q = odd.v = DType::F16;
  odd.k = odd.o = odd.gate = DType::BF16;
  odd.up = odd.down = DType::F32;
  odd.tied = true;
  odd.seed = 8;
  testing::TestModelSpec scaled;
  scaled.q = scaled.k = scaled.v = DType::FP8_E4M3;
  scaled.o = scaled.gate = DType::AprQ8;
  scaled.qkv_biases = false;
  scaled.heads = 6, scaled.kv_heads = 3, scaled.head_dim = 32;
  scaled.seed = 9;
  const Mix mixes[] = {{"quantized/cpu", testing::TestModelSpec{}, "aprc-lower-cpu{max-tokens=8}"},
                       {"quantized/cuda", testing::TestModelSpec{}, "aprc-lower-cuda{max-tokens=8}"},
                       {"odd/cpu", odd, "aprc-lower-cpu{max-tokens=8}"},
                       {"odd/cuda", odd, "aprc-lower-cuda{max-tokens=8}"},
                       {"fp8/cpu", scaled, "aprc-lower-cpu{max-tokens=8}"}};
  for (const Mix& mix : mixes) {
    SCOPED_TRACE(mix.name);
    const auto m = testing::make_test_model(mix.spec);
    const ir::Module original = ir::build_module(m->model);
    ir::Module lowered = ir::parse_module(original.print(), "built.mlir");
    passes::run_pipeline(lowered, mix.pipeline);

    const WeightTable weights = materialize(lowered, m->model);
    std::map<std::string, int64_t> index;
    for (size_t i = 0; i < weights.decls.size(); ++i) index[weights.decls[i].name] = static_cast<int64_t>(i);
    const std::vector<Function> schedules =
        codegen::build_schedules(lowered, {[&](const std::string& s) { return index.at(s); }, nullptr});
    ASSERT_EQ(schedules.size(), 3u);

    const reference::ModelWeights model_weights(m->model);
    const std::vector<int32_t> ids = testing::random_token_ids(10, mix.spec.vocab, 4);
    const int64_t V = mix.spec.vocab;

    // Prefill 8 tokens (the most a call may have), then decode two.
    reference::Interpreter interp(original, model_weights);
    ReferenceExecutor exec(weights, codegen::kv_cache_geometry(lowered));
    RecordedValues want, got;
    const Activation want_prefill = interp.run("prefill", std::span(ids).first(8), 0, &want);
    const Activation got_prefill = exec.run(function(schedules, "prefill"), std::span(ids).first(8), 0, 8, V, &got);
    EXPECT_LE(relative_error(got_prefill, want_prefill), 1e-5);
    expect_outputs_equal(got, want, 1e-5);
    for (int64_t p = 8; p < 10; ++p) {
      RecordedValues want_d, got_d;
      const auto id = std::span(ids).subspan(p, 1);
      EXPECT_LE(relative_error(exec.run(function(schedules, "decode"), id, p, 1, V, &got_d), interp.run("decode", id, p, &want_d)), 1e-5);
      expect_outputs_equal(got_d, want_d, 1e-5);
    }

    // prefill_last: the last row only, in chunks that continue one another.
    reference::Interpreter interp2(original, model_weights);
    ReferenceExecutor exec2(weights, codegen::kv_cache_geometry(lowered));
    for (int64_t begin : {0, 5}) {
      const auto chunk = std::span(ids).subspan(begin, 5);
      EXPECT_LE(relative_error(exec2.run(function(schedules, "prefill_last"), chunk, begin, 1, V, nullptr),
                               interp2.run("prefill_last", chunk, begin)), 1e-5);
    }
  }
}

TEST(ScheduleBuilder, StepsOfALoweredLayer) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  ir::Module lowered = ir::build_module(m->model);
  passes::run_pipeline(lowered, "aprc-lower-cpu{max-tokens=8}");
  const std::vector<Function> fs = codegen::build_schedules(lowered, {[](const std::string&) { return 0; }, nullptr});
  const Function& prefill = function(fs, "prefill");
  EXPECT_EQ(prefill.max_tokens, 8);
  EXPECT_GT(prefill.arena_bytes, 0);
  // embed, per layer (qkv, q rope, rope+append, attention, o+residual, norm+swiglu, down+residual), final norm, logits.
  ASSERT_EQ(prefill.steps.size(), 1u + 2 * 7 + 2);
  const Step& qkv = prefill.steps[1];
  EXPECT_EQ(qkv.spec.kind, KernelKind::Linear);
  EXPECT_TRUE(qkv.spec.has_norm);
  EXPECT_EQ(qkv.spec.weights.size(), 3u);
  EXPECT_EQ(qkv.extent, Expr::lit(256 + 128 + 128));
  EXPECT_EQ(qkv.grain, 16);
  ASSERT_EQ(qkv.outputs.size(), 3u);
  EXPECT_EQ(qkv.outputs[1].op, "layers.0.attn.k_proj");
  EXPECT_EQ(qkv.outputs[1].arg, 1 + 1 + 3 + 3 + 1);  // x, gamma, 3 weights, 3 biases, then q, k
  // The original ops each step computes, from the fused ops' locations.
  EXPECT_EQ(qkv.ops, (std::vector<std::string>{"layers.0.attn.q_proj", "layers.0.attn.k_proj", "layers.0.attn.v_proj",
                                               "layers.0.attn_norm"}));
  EXPECT_EQ(prefill.steps[7].ops, (std::vector<std::string>{"layers.0.mlp.down_proj", "layers.0.mlp_residual"}));
  EXPECT_EQ(prefill.steps[2].ops, std::vector<std::string>{"layers.0.attn.q_rope"});
  const Step& append = prefill.steps[3];
  EXPECT_EQ(append.spec.kind, KernelKind::KvAppend);
  EXPECT_TRUE(append.spec.rope);
  EXPECT_EQ(append.args[2].kind, ArgKind::CacheK);
  EXPECT_EQ(append.args[3].kind, ArgKind::CacheV);
  const Step& attention = prefill.steps[4];
  EXPECT_EQ(attention.extent, Expr::lit(4));  // one chunk unit per query head
  ASSERT_EQ(attention.outputs.size(), 1u);
  EXPECT_EQ(attention.outputs[0].op, "layers.0.attn.attention");
  EXPECT_EQ(attention.outputs[0].arg, 3);  // q, cache_k, cache_v, out
  EXPECT_EQ(prefill.steps.back().args.back().kind, ArgKind::Logits);
  for (const Step& s : prefill.steps) EXPECT_EQ(s.scalars, (std::vector<Expr>{Expr::tokens(), Expr{0, 1, 0}}));
  // prefill_last projects the last row: T - 1 rows into the final norm's output, one row.
  const Step& last = function(fs, "prefill_last").steps.back();
  EXPECT_EQ(last.scalars[0], Expr::lit(1));
  EXPECT_EQ(last.args[0].offset.coef_T, 256 * 4);
}

// The CUDA lowering rotates q in the kv append's step: k, v, cache_k, cache_v, q; the rotated q and k
// named in place (args 4 and 0); the step computes the q rope, the k rope and the append.
TEST(ScheduleBuilder, CudaLayerRotatesQInTheKvAppend) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  ir::Module lowered = ir::build_module(m->model);
  passes::run_pipeline(lowered, "aprc-lower-cuda{max-tokens=8}");
  const std::vector<Function> fs = codegen::build_schedules(lowered, {[](const std::string&) { return 0; }, nullptr});
  const Function& prefill = function(fs, "prefill");
  ASSERT_EQ(prefill.steps.size(), 1u + 2 * 6 + 2);
  const Step& append = prefill.steps[2];
  EXPECT_EQ(append.spec.kind, KernelKind::KvAppend);
  EXPECT_TRUE(append.spec.rope);
  EXPECT_EQ(append.spec.heads, 4);
  EXPECT_EQ(append.spec.kv_heads, 2);
  ASSERT_EQ(append.args.size(), 5u);
  EXPECT_EQ(append.args[2].kind, ArgKind::CacheK);
  EXPECT_EQ(append.args[3].kind, ArgKind::CacheV);
  EXPECT_EQ(append.args[4].kind, ArgKind::Arena);
  EXPECT_EQ(append.args[4], prefill.steps[3].args[0]);  // the attention reads the rotated q where it lies
  ASSERT_EQ(append.outputs.size(), 2u);
  EXPECT_EQ(append.outputs[0].op, "layers.0.attn.q_rope");
  EXPECT_EQ(append.outputs[0].arg, 4);
  EXPECT_EQ(append.outputs[1].op, "layers.0.attn.k_rope");
  EXPECT_EQ(append.outputs[1].arg, 0);
  EXPECT_EQ(append.ops, (std::vector<std::string>{"layers.0.attn.q_rope", "layers.0.attn.k_rope", "layers.0.attn.kv_append"}));
  EXPECT_EQ(prefill.steps[3].spec.kind, KernelKind::Attention);
}

TEST(ScheduleBuilder, RefusesAnUnplannedFunction) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  try {
    codegen::build_schedules(module, {[](const std::string&) { return 0; }, nullptr});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(e.what()).find("@prefill has no memory plan"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc
