// aprc compile end to end: plans compiled for the CPU, loaded by the runtime and run with the
// generated kernels, against the reference interpreter (every position's logits within 1e-3 of the
// largest |logit|) and, for the fixture GGUF, against ggml's f32 logits and its 12 greedy tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "aprc/codegen/compile.h"
#include "aprc/error.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "aprc/plan_format.h"
#include "aprc/runtime.h"
#include "aprc/synthetic_model.h"
#include "compile_test_util.h"
#include "fixture_references.h"
#include "fp8_fixture_bounds.h"
#include "logits_compare.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;
using codegen::CompileTarget;

using testing::fixtures;
using testing::argmax;
using testing::row_error;
using testing::TempPlan;

// Every position's logits of `ids` from the plan (prefill in chunks of its max_tokens) and from the
// interpreter on the original module (after `weight_pipeline`, as the compile ran it); the largest
// per-position error.
double plan_vs_interpreter(const fs::path& plan, const Model& model, const std::vector<int32_t>& ids,
                           const std::string& weight_pipeline = "") {
  EngineOptions engine;
  engine.context = 64;
  auto session = Session::open(plan.string(), "cpu", engine);
  return testing::error_vs_interpreter(session->prefill_all(ids), model, ids, weight_pipeline);
}

TEST(Compile, ParsesTargets) {
  using V = std::vector<CompileTarget>;
  EXPECT_EQ(codegen::parse_targets("cpu"), (V{{Backend::Cpu, {}}}));
  EXPECT_EQ(codegen::parse_targets("cuda"), (V{{Backend::Cuda, {90}}}));
  EXPECT_EQ(codegen::parse_targets("cpu,cuda:sm_80,sm_90"), (V{{Backend::Cpu, {}}, {Backend::Cuda, {80, 90}}}));
  EXPECT_EQ(codegen::parse_targets("cuda:sm_89,cpu"), (V{{Backend::Cuda, {89}}, {Backend::Cpu, {}}}));
  for (const char* bad : {"", "tpu", "cpu,cpu", "sm_90", "cuda:90", "cpu,", "cuda:sm_"}) {
    SCOPED_TRACE(bad);
    try {
      codegen::parse_targets(bad);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("--target '" + std::string(bad) + "'"), std::string::npos) << e.what();
    }
  }
}

// A synthetic plan stores the seed; the runtime generates the same weights the compiler's model has.
TEST(Compile, SyntheticPlanRunsLikeTheInterpreter) {
  const uint64_t seed = 77;
  const Model model = synthetic_model("tiny", seed, TokenizerData{});
  codegen::CompileOptions options;
  options.max_tokens = 5;  // 11 tokens: prefill in three chunks
  options.synthetic = SyntheticInfo{"tiny", seed};
  TempPlan plan("synthetic");
  const codegen::CompileSummary summary =
      codegen::compile_plan(synthetic_model("tiny", seed, TokenizerData{}, false), plan.path.string(), options);
  EXPECT_GT(summary.weights, 0u);
  const auto p = Plan::open(plan.path.string());
  EXPECT_TRUE(p->synthetic());
  EXPECT_FALSE(p->section(plan_section::kWeights).has_value() && p->section(plan_section::kWeights)->size() > 0);
  ASSERT_TRUE(p->section(plan_section::kReferenceIr).has_value());
  ASSERT_TRUE(p->section(plan_section::kCpuObject).has_value());
  const double err = plan_vs_interpreter(plan.path, model, testing::random_token_ids(11, model.config.vocab_size, 3));
  std::printf("synthetic tiny: largest relative error %.3g\n", err);
  EXPECT_LE(err, 1e-3);
}

// The check: the fixture compiled for the CPU and run by the runtime matches the
// interpreter at every position (1e-3), ggml's f32 logits likewise, and its 12 greedy tokens.
TEST(Compile, FixturePlanMatchesTheInterpreterAndGgml) {
  const fs::path gguf = fixtures() / "qwen2-tiny-q4km.gguf";
  if (!fs::exists(gguf)) GTEST_SKIP() << "fixture " << gguf << " is absent (set APRC_FIXTURES)";
  const Model model = load_model(gguf.string());
  codegen::CompileOptions options;
  options.max_tokens = 16;
  TempPlan plan("fixture");
  codegen::compile_plan(model, plan.path.string(), options);

  const std::vector<testing::FixtureReference> refs =
      testing::read_fixture_references(fixtures() / "qwen2-tiny-q4km.ref.jsonl", "ggml-cpu-f32-dequantized");
  ASSERT_FALSE(refs.empty());
  const int64_t V = model.config.vocab_size;
  EngineOptions engine;
  engine.context = 128;
  for (size_t p = 0; p < refs.size(); ++p) {
    SCOPED_TRACE("prompt " + std::to_string(p));
    const testing::FixtureReference& r = refs[p];
    const double err = plan_vs_interpreter(plan.path, model, r.ids);
    std::printf("fixture prompt %zu (%zu tokens): largest relative error vs the interpreter %.3g\n", p, r.ids.size(), err);
    EXPECT_LE(err, 1e-3);

    auto session = Session::open(plan.path.string(), "cpu", engine);
    const std::vector<float> logits = session->prefill_all(r.ids);
    for (size_t t = 0; t < r.top.size(); ++t) {
      const float* row = &logits[t * V];
      double scale = 0, diff = 0;
      for (const auto& [token, value] : r.top[t]) scale = std::max(scale, std::fabs(value));
      for (const auto& [token, value] : r.top[t]) diff = std::max(diff, std::fabs(row[token] - value));
      EXPECT_LE(diff / scale, 1e-3) << "position " << t;
    }
    std::vector<int32_t> greedy{argmax(std::span(&logits[(r.ids.size() - 1) * V], V))};
    while (greedy.size() < r.greedy.size()) greedy.push_back(argmax(session->decode(greedy.back())));
    EXPECT_EQ(greedy, r.greedy);
  }
}

// --weights fp8 (CompileOptions::weight_pipeline): fp8e4m3 weights read by the generated CPU
// kernels, per channel and per tensor, on every Linear or on some groups only (mixed kernels), and
// per-token fp8 activations in prefill (within kFp8ActPlanVsInterpreter: fp8_fixture_bounds.h says
// why); each plan against the interpreter on the cast module, on
// 11 random tokens in prefill chunks of 5 (a chunk of one token included: 5 + 5 + 1), and its
// decode step (weights only: decode quantizes no activations) against the interpreter's last row.
TEST(Compile, Fp8PlansRunLikeTheInterpreter) {
  const uint64_t seed = 78;
  const Model model = synthetic_model("tiny", seed, TokenizerData{});
  const std::vector<int32_t> ids = testing::random_token_ids(11, model.config.vocab_size, 5);
  const struct {
    const char* pipeline;
    double tol;
  } cases[] = {
      {"aprc-cast-fp8{ops=all granularity=per_channel}", 1e-3},
      {"aprc-cast-fp8{ops=all granularity=per_tensor}", 1e-3},
      {"aprc-cast-fp8{ops=mlp,attn_proj granularity=per_channel}", 1e-3},
      {"aprc-cast-fp8{ops=all granularity=per_channel per-token-activations=1}", testing::kFp8ActPlanVsInterpreter},
      {"aprc-cast-fp8{ops=attn_qkv,logits granularity=per_tensor per-token-activations=1}",
       testing::kFp8ActPlanVsInterpreter},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pipeline);
    codegen::CompileOptions options;
    options.max_tokens = 5;
    options.weight_pipeline = c.pipeline;
    TempPlan plan("fp8");
    codegen::compile_plan(model, plan.path.string(), options);
    const auto p = Plan::open(plan.path.string());
    int fp8 = 0;
    for (const PlanWeight& w : p->manifest().weights) fp8 += w.dtype == DType::FP8_E4M3;
    EXPECT_GT(fp8, 0);
    const double err = plan_vs_interpreter(plan.path, model, ids, c.pipeline);
    std::printf("synthetic tiny, %s: largest relative error %.3g\n", c.pipeline, err);
    EXPECT_LE(err, c.tol);
    if (std::string(c.pipeline).find("per-token") != std::string::npos) continue;
    EngineOptions engine;
    engine.context = 64;
    auto session = Session::open(plan.path.string(), "cpu", engine);
    session->prefill_all(std::vector<int32_t>(ids.begin(), ids.end() - 1));
    const std::span<const float> step = session->decode(ids.back());
    ir::Module module = ir::build_module(model);
    passes::run_pipeline(module, c.pipeline);
    const reference::ModelWeights weights(model);
    const reference::Activation want = reference::Interpreter(module, weights).run("prefill", ids, 0);
    const double derr = row_error(step.data(), want.row(want.rows - 1), want.cols);
    std::printf("  decode step: relative error %.3g\n", derr);
    EXPECT_LE(derr, c.tol);
  }
}

// Issue 6's CI check on the fixture as `aprc compile --weights fp8` makes it, run by the CPU runtime:
// every position of every fixture prompt matches the interpreter on the cast module (1e-3; with
// per-token fp8 activations kFp8ActPlanVsInterpreter), and the plan's logits against the f32
// weights: the largest error and top-1 agreement with ggml within fp8_fixture_bounds.h, per channel
// no worse than per tensor.
TEST(Compile, Fp8FixturePlanAccuracy) {
  const fs::path gguf = fixtures() / "qwen2-tiny-q4km.gguf";
  if (!fs::exists(gguf)) GTEST_SKIP() << "fixture " << gguf << " is absent (set APRC_FIXTURES)";
  const Model model = load_model(gguf.string());
  const std::vector<testing::FixtureReference> refs =
      testing::read_fixture_references(fixtures() / "qwen2-tiny-q4km.ref.jsonl", "ggml-cpu-f32-dequantized");
  ASSERT_FALSE(refs.empty());
  const int64_t V = model.config.vocab_size;
  // The f32 reference: the interpreter reads the stored weights as their f32 values.
  std::vector<reference::Activation> f32;
  {
    const ir::Module module = ir::build_module(model);
    const reference::ModelWeights weights(model);
    for (const auto& r : refs) f32.push_back(reference::Interpreter(module, weights).run("prefill", r.ids, 0));
  }
  struct Figures {
    double max_error = 0;
    int64_t top1 = 0, positions = 0;
  };
  auto figures = [&](const char* pipeline, double vs_interpreter) {
    SCOPED_TRACE(pipeline);
    codegen::CompileOptions options;
    options.max_tokens = 16;
    options.weight_pipeline = pipeline;
    TempPlan plan("fixture-fp8");
    codegen::compile_plan(model, plan.path.string(), options);
    EngineOptions engine;
    engine.context = 128;
    Figures f;
    for (size_t p = 0; p < refs.size(); ++p) {
      const double err = plan_vs_interpreter(plan.path, model, refs[p].ids, pipeline);
      EXPECT_LE(err, vs_interpreter) << "prompt " << p;
      auto session = Session::open(plan.path.string(), "cpu", engine);
      const std::vector<float> got = session->prefill_all(refs[p].ids);
      for (int64_t t = 0; t < f32[p].rows; ++t) {
        f.max_error = std::max(f.max_error, row_error(&got[t * V], f32[p].row(t), V));
        f.top1 += argmax(std::span(&got[t * V], V)) == refs[p].top[t][0].first;
        ++f.positions;
      }
      std::printf("fixture prompt %zu, %s: plan vs interpreter %.3g\n", p, pipeline, err);
    }
    std::printf("fixture plan, %s: max logit error %.4f vs f32 weights, top-1 %lld/%lld with ggml\n", pipeline,
                f.max_error, static_cast<long long>(f.top1), static_cast<long long>(f.positions));
    return f;
  };
  // The default groups (layers), as --weights fp8 casts them.
  const Figures pc = figures("aprc-cast-fp8{granularity=per_channel}", 1e-3);
  const Figures pt = figures("aprc-cast-fp8{granularity=per_tensor}", 1e-3);
  const Figures act = figures("aprc-cast-fp8{granularity=per_channel per-token-activations=1}",
                              testing::kFp8ActPlanVsInterpreter);
  EXPECT_LE(pc.max_error, testing::kFp8FixtureMaxError);
  EXPECT_GE(static_cast<double>(pc.top1), testing::kFp8FixtureMinTop1 * static_cast<double>(pc.positions));
  EXPECT_LE(pc.max_error, pt.max_error) << "per-channel scaling must be no worse than per-tensor";
  EXPECT_LE(act.max_error, testing::kFp8ActFixtureMaxError);
  EXPECT_GE(static_cast<double>(act.top1), testing::kFp8ActFixtureMinTop1 * static_cast<double>(act.positions));
}

TEST(Compile, RefusesAModelItCannotCompile) {
  codegen::CompileOptions options;
  options.max_tokens = 0;
  TempPlan plan("refused");
  try {
    codegen::compile_plan(synthetic_model("tiny", 1, TokenizerData{}, false), plan.path.string(), options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("--max-tokens"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(plan.path));
}

}  // namespace
}  // namespace aprc
