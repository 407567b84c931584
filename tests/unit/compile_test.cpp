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
#include "aprc/plan_format.h"
#include "aprc/runtime.h"
#include "aprc/synthetic_model.h"
#include "fixture_references.h"
#include "logits_compare.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;
using codegen::CompileTarget;

using testing::fixtures;

// A plan file under the test's temporary directory, removed afterwards.
struct TempPlan {
  fs::path path;
  explicit TempPlan(const std::string& name) : path(fs::path(::testing::TempDir()) / (name + ".plan")) {}
  ~TempPlan() { fs::remove(path); }
};

using testing::argmax;
using testing::row_error;

// Every position's logits of `ids` from the plan (prefill in chunks of its max_tokens) and from the
// interpreter on the original module; the largest per-position error.
double plan_vs_interpreter(const fs::path& plan, const Model& model, const std::vector<int32_t>& ids) {
  EngineOptions engine;
  engine.context = 64;
  auto session = Session::open(plan.string(), "cpu", engine);
  const std::vector<float> got = session->prefill_all(ids);
  const ir::Module module = ir::build_module(model);
  const reference::ModelWeights weights(model);
  reference::Interpreter interp(module, weights);
  const reference::Activation want = interp.run("prefill", ids, 0);
  EXPECT_EQ(got.size(), want.data.size());
  double worst = 0;
  for (int64_t t = 0; t < want.rows; ++t) worst = std::max(worst, row_error(&got[t * want.cols], want.row(t), want.cols));
  return worst;
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
