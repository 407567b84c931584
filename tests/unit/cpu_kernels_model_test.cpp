// Generated CPU kernels on whole models: synthetic Qwen2-shaped models and the fixture models are
// lowered for the CPU (the passes fuse and repack to cpu_r16), scheduled, compiled by
// compile_cpu_kernels, and their schedules run step by step on the generated kernels (each step's
// extent cut into uneven chunks shared by two threads, the arena poisoned with NaN).
//  - synthetic models: logits and every named step output against the reference interpreter on
//    the original module, f32 within 1e-4 of the largest value; with int8 activations the logits
//    within 3e-2 and the values inside the layers within 6e-2 (one int8 Linear alone is off by
//    about 0.5% on these random models; the layers compound it).
//  - fixtures (../shared/fixtures, skipped when absent): every position's top-16 logits and the
//    last position's whole row against ggml's f32 graph and the f64 reference within 1e-3, and the
//    12 greedy tokens identical; with int8 activations within 3e-2 and the greedy tokens of ggml's
//    own int8 path.
#include <filesystem>
#include <fstream>
#include <map>

#include "aprc/codegen/schedule_builder.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "cpu_kernels_test_util.h"
#include "fixture_references.h"
#include "ir_test_model.h"
#include "passes_test_util.h"

namespace aprc::test {
namespace {

using reference::Activation;
using reference::RecordedValues;

// A lowered model compiled for this CPU: weights in their planned layouts, schedules, kernels.
struct CompiledModel {
  std::vector<PlanWeight> decls;
  std::vector<std::vector<uint8_t>> weights;
  std::vector<Function> functions;
  KvCacheGeometry kv;
  std::unique_ptr<CpuModule> kernels;

  const Function& function(const std::string& name) const {
    for (const Function& f : functions)
      if (f.name == name) return f;
    throw std::runtime_error("no function " + name);
  }
};

CompiledModel compile_model(const Model& model, const ir::Module& original, bool int8, int64_t max_tokens = 20) {
  CompiledModel c;
  ir::Module lowered = ir::parse_module(original.print(), "built.mlir");
  passes::run_pipeline(lowered, "aprc-lower-cpu{max-tokens=" + std::to_string(max_tokens) + "}");
  c.decls = codegen::declared_weights(lowered);
  for (const PlanWeight& w : c.decls)
    c.weights.push_back(convert_weight(model.tensor(w.source).view(), w.dtype, w.scales, w.layout));
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < c.decls.size(); ++i) index[c.decls[i].name] = static_cast<int64_t>(i);
  codegen::ScheduleOptions options{[&](const std::string& s) { return index.at(s); },
                                   [&](Step& st, int64_t max_tokens) { finish_cpu_step(st, max_tokens, CpuStepOptions{int8}); }};
  c.functions = codegen::build_schedules(lowered, options);
  c.kv = codegen::kv_cache_geometry(lowered);
  std::vector<KernelSpec> specs;
  for (const Function& f : c.functions)
    for (const Step& s : f.steps) specs.push_back(s.spec);
  c.kernels = compile_for_host(specs);
  return c;
}

// Runs schedules on the generated kernels, with its own KV cache.
class Runner {
 public:
  explicit Runner(CompiledModel& m) : m_(m) {
    const size_t per_layer = size_t(m.kv.max_context * m.kv.kv_heads * m.kv.head_dim);
    for (int64_t l = 0; l < m.kv.layers; ++l) {
      cache_k_.emplace_back(per_layer, std::numeric_limits<float>::quiet_NaN());
      cache_v_.emplace_back(per_layer, std::numeric_limits<float>::quiet_NaN());
    }
  }

  Activation run(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logit_rows,
                 int64_t vocab, RecordedValues* outputs) {
    const Function& f = m_.function(name);
    const int64_t T = int64_t(ids.size());
    std::vector<uint8_t> arena(size_t(f.arena_bytes), 0xFF);  // NaN everywhere
    Activation logits(logit_rows, vocab);
    std::fill(logits.data.begin(), logits.data.end(), std::numeric_limits<float>::quiet_NaN());
    uint64_t seed = 1;
    for (const Step& s : f.steps) {
      std::vector<void*> args;
      for (const Arg& a : s.args) {
        const int64_t off = a.offset.eval(T, pos);
        switch (a.kind) {
          case ArgKind::Arena: args.push_back(arena.data() + off); break;
          case ArgKind::Logits: args.push_back(reinterpret_cast<uint8_t*>(logits.data.data()) + off); break;
          case ArgKind::InputIds: args.push_back(const_cast<int32_t*>(ids.data()) + off / 4); break;
          case ArgKind::CacheK: args.push_back(cache_k_.at(a.index).data() + off / 4); break;
          case ArgKind::CacheV: args.push_back(cache_v_.at(a.index).data() + off / 4); break;
          case ArgKind::Weight: args.push_back(m_.weights.at(a.index).data() + off); break;
        }
      }
      std::vector<int64_t> scalars;
      for (const Expr& e : s.scalars) scalars.push_back(e.eval(T, pos));
      run_chunked(m_.kernels->get(s.kernel), args, scalars, s.extent.eval(T, pos), seed++, s.grain);
      if (outputs)
        for (const OutputName& o : s.outputs) {
          const int64_t rows = o.rows.eval(T, pos);
          Activation v(rows, o.cols);
          const float* base = static_cast<const float*>(args.at(o.arg));
          for (int64_t r = 0; r < rows; ++r) std::memcpy(v.row(r), base + r * o.row_stride + o.col_offset, o.cols * sizeof(float));
          outputs->values[o.op] = v;
        }
    }
    return logits;
  }

 private:
  CompiledModel& m_;
  std::vector<std::vector<float>> cache_k_, cache_v_;
};

void expect_outputs_near(const RecordedValues& got, const RecordedValues& want, double tolerance) {
  ASSERT_FALSE(got.values.empty());
  for (const auto& [name, value] : got.values) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(want.values.count(name)) << "the reference computes no value of this name";
    EXPECT_LE(testing::relative_error(value, want.values.at(name)), tolerance);
  }
}

void check_model(const testing::TestModelSpec& spec, bool int8) {
  const auto m = testing::make_test_model(spec);
  const ir::Module original = ir::build_module(m->model);
  CompiledModel compiled = compile_model(m->model, original, int8);
  const reference::ModelWeights weights(m->model);
  const std::vector<int32_t> ids = testing::random_token_ids(22, spec.vocab, 5);
  const int64_t V = spec.vocab;
  const double tol = int8 ? 3e-2 : 1e-4, values_tol = int8 ? 6e-2 : 1e-4;

  // Prefill 19 tokens (a 16-token attention tile and three more), then decode three.
  reference::Interpreter interp(original, weights);
  Runner run(compiled);
  RecordedValues want, got;
  const Activation want_prefill = interp.run("prefill", std::span(ids).first(19), 0, &want);
  EXPECT_LE(testing::relative_error(run.run("prefill", std::span(ids).first(19), 0, 19, V, &got), want_prefill), tol);
  expect_outputs_near(got, want, values_tol);
  for (int64_t p = 19; p < 22; ++p) {
    RecordedValues want_d, got_d;
    const auto id = std::span(ids).subspan(p, 1);
    EXPECT_LE(testing::relative_error(run.run("decode", id, p, 1, V, &got_d), interp.run("decode", id, p, &want_d)), tol);
    expect_outputs_near(got_d, want_d, values_tol);
  }
  // prefill_last in two chunks that continue one another
  reference::Interpreter interp2(original, weights);
  Runner run2(compiled);
  for (int64_t begin : {0, 7}) {
    const auto chunk = std::span(ids).subspan(begin, 7);
    EXPECT_LE(testing::relative_error(run2.run("prefill_last", chunk, begin, 1, V, nullptr),
                                      interp2.run("prefill_last", chunk, begin)),
              tol);
  }
}

TEST(CpuKernelsModel, QuantizedModelMatchesTheInterpreter) {
  testing::TestModelSpec q;  // q8_0, q5_0, q6_k, q4_k (cpu_r16) with q5_k and aprq4 (row_major)
  check_model(q, false);
}

TEST(CpuKernelsModel, TiedOddFloatModelMatchesTheInterpreter) {
  // odd sizes (float encodings take rows of any length), one query head per kv head, fp8 and
  // aprq8 matrices, a tied head
  testing::TestModelSpec f;
  f.hidden = 78, f.heads = 3, f.kv_heads = 3, f.head_dim = 26, f.intermediate = 101, f.vocab = 137;
  f.embed = f.v = DType::BF16;
  f.q = f.k = DType::FP8_E4M3;
  f.o = f.gate = DType::F16;
  f.up = DType::AprQ8;
  f.down = DType::F32;
  f.tied = true;
  f.seed = 12;
  check_model(f, false);
}

TEST(CpuKernelsModel, Int8ActivationsStayWithinTheirBound) {
  testing::TestModelSpec k;  // every matrix in a cpu_r16 format, so that every prefill Linear is int8
  k.gate = DType::Q4_K, k.up = DType::Q4_K;
  k.seed = 3;
  check_model(k, true);
}

// --- The fixture models, against logits of independent programs (../shared/fixtures/README.md) ---

namespace fs = std::filesystem;
using testing::argmax;
using testing::fixtures;
using Reference = testing::FixtureReference;

// Each prompt through @prefill on the generated kernels: every position's top-16 and the last
// position's whole row against the reference engine, then 12 greedy tokens through @decode, equal
// to those of `greedy_engine`.
void check_fixture(const fs::path& model_path, const std::string& engine, const std::string& prefix, bool int8, double tol,
                   const std::string& greedy_engine) {
  if (!fs::exists(model_path)) GTEST_SKIP() << "fixture " << model_path << " is absent (set APRC_FIXTURES)";
  const Model model = load_model(model_path.string());
  const ir::Module module = ir::build_module(model);
  CompiledModel compiled = compile_model(model, module, int8, 32);
  const int64_t V = model.config.vocab_size;
  const std::vector<Reference> refs = testing::read_fixture_references(fixtures() / (prefix + ".ref.jsonl"), engine);
  const std::vector<Reference> greedy_refs = testing::read_fixture_references(fixtures() / (prefix + ".ref.jsonl"), greedy_engine);
  ASSERT_FALSE(refs.empty());
  ASSERT_EQ(refs.size(), greedy_refs.size());
  for (size_t ri = 0; ri < refs.size(); ++ri) {
    const Reference& ref = refs[ri];
    SCOPED_TRACE("prompt " + std::to_string(ref.prompt));
    Runner run(compiled);
    const int64_t T = int64_t(ref.ids.size());
    const Activation logits = run.run("prefill", ref.ids, 0, T, V, nullptr);
    double worst = 0;
    for (int64_t p = 0; p < T; ++p) {
      double scale = 0;
      for (int64_t i = 0; i < V; ++i) scale = std::max(scale, std::fabs(double(logits.row(p)[i])));
      for (const auto& [id, want] : ref.top[p]) {
        const double got = logits.row(p)[id];
        worst = std::max(worst, std::isfinite(got) ? std::fabs(got - want) / scale : INFINITY);
      }
    }
    EXPECT_LE(worst, tol);
    const fs::path last_path = fixtures() / (prefix + ".p" + std::to_string(ref.prompt) + ".last.f32");
    std::vector<float> last(V);
    std::ifstream(last_path, std::ios::binary).read(reinterpret_cast<char*>(last.data()), std::streamsize(V * 4));
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < V; ++i) {
      const float got = logits.row(T - 1)[i];
      diff = std::max(diff, std::isfinite(got) ? std::fabs(double(got) - last[i]) : INFINITY);
      scale = std::max(scale, std::fabs(double(last[i])));
    }
    EXPECT_LE(diff / scale, tol);
    std::vector<int32_t> greedy = {argmax(logits.row(T - 1), V)};
    while (greedy.size() < ref.greedy.size()) {
      const int64_t pos = T + int64_t(greedy.size()) - 1;
      const Activation next = run.run("decode", std::span(&greedy.back(), 1), pos, 1, V, nullptr);
      greedy.push_back(argmax(next.row(0), V));
    }
    EXPECT_EQ(greedy, greedy_refs[ri].greedy);
    std::printf("%s prompt %d (%lld tokens)%s: top-16 error %.2g, last-row error %.2g of the largest |logit|\n",
                prefix.c_str(), ref.prompt, (long long)T, int8 ? " int8" : "", worst, diff / scale);
  }
}

TEST(CpuKernelsFixture, GgufMatchesGgmlF32Reference) {
  check_fixture(fixtures() / "qwen2-tiny-q4km.gguf", "ggml-cpu-f32-dequantized", "qwen2-tiny-q4km", false, 1e-3,
                "ggml-cpu-f32-dequantized");
}

// int8 activations: logits within 3e-2 of the f32 reference, and the greedy tokens of ggml's own
// int8 path (on prompt 1 the top two logits are close and both int8 paths pick the other token).
TEST(CpuKernelsFixture, GgufWithInt8ActivationsStaysWithinItsBound) {
  check_fixture(fixtures() / "qwen2-tiny-q4km.gguf", "ggml-cpu-f32-dequantized", "qwen2-tiny-q4km", true, 3e-2,
                "ggml-cpu-quantized");
}

TEST(CpuKernelsFixture, HuggingFaceFolderMatchesF64Reference) {
  check_fixture(fixtures() / "qwen2-hf-tiny", "f64-reference", "qwen2-hf-tiny", false, 1e-3, "f64-reference");
}

}  // namespace
}  // namespace aprc::test
