// aprc compile --target cuda (and cpu,cuda) end to end, without a GPU: the plan holds an sm_90 cubin,
// PTX and the generated source; its schedules run on the host emulator of the generated kernels (the
// fixture on a GPU where there is one) against the reference interpreter, every position's logits
// within 1e-3 of the largest |logit|; a tied model's table and logits matrix are one weight in a
// cuda layout.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "aprc/codegen/compile.h"
#include "aprc/cuda/device.h"
#include "aprc/cuda/plan_engine.h"
#include "aprc/error.h"
#include "aprc/model.h"
#include "aprc/plan_format.h"
#include "aprc/runtime.h"
#include "compile_test_util.h"
#include "cuda_emu_device.h"
#include "fixture_references.h"
#include "ir_test_model.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;
using codegen::CompileTarget;
using testing::fixtures;
using testing::TempPlan;

// The cuda target of a compiled plan: sm_90 cubin (an ELF), PTX for compute_90, the source.
void expect_cuda_sections(const Plan& plan) {
  const PlanTarget* t = plan.target("cuda");
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->functions.empty());
  EXPECT_EQ(t->cuda_archs, std::vector<std::string>{"sm_90"});
  EXPECT_TRUE(t->has_ptx);
  const auto cubin = plan.section(std::string(plan_section::kCudaCubinPrefix) + "sm_90");
  ASSERT_TRUE(cubin.has_value());
  ASSERT_GT(cubin->size(), 4u);
  EXPECT_EQ(std::memcmp(cubin->data(), "\x7f" "ELF", 4), 0);
  const auto ptx = plan.section(plan_section::kCudaPtx);
  ASSERT_TRUE(ptx.has_value());
  EXPECT_NE(std::string(ptx->begin(), ptx->end()).find(".target sm_90"), std::string::npos);
  const auto source = plan.section(plan_section::kCudaSource);
  ASSERT_TRUE(source.has_value());
  EXPECT_NE(std::string(source->begin(), source->end()).find("extern \"C\""), std::string::npos);
}

// Compiles for `targets`; false (the test skips) where this aprc has no NVRTC.
bool compile(const Model& model, const fs::path& path, const std::string& targets, int64_t max_tokens,
             const std::string& weight_pipeline = "") {
  codegen::CompileOptions options;
  options.weight_pipeline = weight_pipeline;
  options.targets = codegen::parse_targets(targets);
  options.max_tokens = max_tokens;
  try {
    codegen::compile_plan(model, path.string(), options);
  } catch (const Error& e) {
    if (std::string(e.what()).find("without the CUDA toolkit") != std::string::npos) return false;
    throw;
  }
  return true;
}

// The plan's cuda schedules on the emulator (or the GPU): every position's logits of `ids` (prefill in
// chunks of max_tokens, then decode of the last two tokens) against the interpreter; the largest error.
double cuda_vs_interpreter(const fs::path& path, const Model& model, const std::vector<int32_t>& ids, bool gpu,
                           const std::string& weight_pipeline = "") {
  auto plan = Plan::open(path.string());
  EngineOptions eo;
  eo.context = 64;
  auto engine = gpu ? open_engine(plan, "cuda", eo)
                    : cuda::open_cuda_engine(plan, eo, std::make_unique<cuda::test::EmuDevice>());
  Session session(plan, std::move(engine));
  const std::vector<int32_t> head(ids.begin(), ids.end() - 2);
  std::vector<float> got = session.prefill_all(head);
  for (size_t i = head.size(); i < ids.size(); ++i) {
    const std::span<const float> row = session.decode(ids[i]);
    got.insert(got.end(), row.begin(), row.end());
  }
  return testing::error_vs_interpreter(got, model, ids, weight_pipeline);
}

bool skip_emulator() {
  const char* s = std::getenv("APRC_SKIP_EMU");
  return s && *s == '1';
}

// --target cpu,cuda: both targets in one plan, the cuda one running like the interpreter on the
// emulator: a small tied model of every quantized encoding (q4_k table and logits, q8_0, q5_0, q6_k,
// q5_k, aprq4), 301 tokens, so that the emulated kernels take seconds.
TEST(CompileCuda, PlanForCpuAndCudaRunsLikeTheInterpreter) {
  testing::TestModelSpec spec;
  spec.tied = true;
  const auto m = testing::make_test_model(spec);
  TempPlan plan("cpu-cuda");
  if (!compile(m->model, plan.path, "cpu,cuda", 5)) GTEST_SKIP() << "this aprc was built without the CUDA toolkit";
  const auto p = Plan::open(plan.path.string());
  expect_cuda_sections(*p);
  ASSERT_NE(p->target("cpu"), nullptr);
  EXPECT_TRUE(p->section(plan_section::kCpuObject).has_value());
  if (skip_emulator()) GTEST_SKIP() << "APRC_SKIP_EMU=1";
  const std::vector<int32_t> ids = testing::random_token_ids(9, spec.vocab, 4);
  const double err = cuda_vs_interpreter(plan.path, m->model, ids, false);
  std::printf("test model, cuda plan on the emulator: largest relative error %.3g\n", err);
  EXPECT_LE(err, 1e-3);
}

// --weights fp8 for cuda: the cuda schedules on the emulator against the interpreter on the cast
// module: fp8 weights read by the decode GEMV and the bf16 tensor-core prefill (exact), and with
// per-token activations the FP8 tensor-core tile (e4m3 rounding is discontinuous, so an ulp of
// difference in a normalized activation may move it by a step: 0.1, as for the CPU plans).
TEST(CompileCuda, Fp8PlanRunsLikeTheInterpreter) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  const std::vector<int32_t> ids = testing::random_token_ids(11, 301, 6);
  for (const auto& [pipeline, tol] : {std::pair{"aprc-cast-fp8{ops=all granularity=per_channel}", 1e-3},
                                      {"aprc-cast-fp8{ops=mlp,logits granularity=per_tensor}", 1e-3},
                                      {"aprc-cast-fp8{ops=all granularity=per_channel per-token-activations=1}", 0.1}}) {
    SCOPED_TRACE(pipeline);
    TempPlan plan("fp8-cuda");
    if (!compile(m->model, plan.path, "cuda", 5, pipeline)) GTEST_SKIP() << "this aprc was built without the CUDA toolkit";
    expect_cuda_sections(*Plan::open(plan.path.string()));
    if (skip_emulator()) GTEST_SKIP() << "APRC_SKIP_EMU=1";
    const double err = cuda_vs_interpreter(plan.path, m->model, ids, false, pipeline);
    std::printf("test model, %s, cuda plan on the emulator: largest relative error %.3g\n", pipeline, err);
    EXPECT_LE(err, tol);
  }
}

// The CI check: the fixture compiled --target cuda holds sm_90 cubin and PTX, and its tied
// table is one weight in the cuda layout. Where there is a GPU, it runs like the interpreter.
TEST(CompileCuda, FixturePlan) {
  const fs::path gguf = fixtures() / "qwen2-tiny-q4km.gguf";
  if (!fs::exists(gguf)) GTEST_SKIP() << "fixture " << gguf << " is absent (set APRC_FIXTURES)";
  const Model model = load_model(gguf.string());
  TempPlan plan("fixture-cuda");
  if (!compile(model, plan.path, "cuda", 16)) GTEST_SKIP() << "this aprc was built without the CUDA toolkit";
  const auto p = Plan::open(plan.path.string());
  expect_cuda_sections(*p);
  size_t tables = 0;
  for (const PlanWeight& w : p->manifest().weights)
    if (w.source == names::embed_tokens()) {
      ++tables;
      EXPECT_EQ(w.layout, WeightLayout::CudaQ4K) << w.name;
    }
  EXPECT_EQ(tables, 1u) << "the tied table and logits matrix are stored once";

  std::string why;
  if (!cuda::cuda_available(&why)) GTEST_SKIP() << "no GPU here (the emulator takes minutes on its vocabulary): " << why;
  const std::vector<testing::FixtureReference> refs =
      testing::read_fixture_references(fixtures() / "qwen2-tiny-q4km.ref.jsonl", "ggml-cpu-f32-dequantized");
  ASSERT_FALSE(refs.empty());
  const double err = cuda_vs_interpreter(plan.path, model, refs[0].ids, true);
  std::printf("fixture prompt 0 (%zu tokens), cuda plan on the GPU: largest relative error %.3g\n", refs[0].ids.size(), err);
  EXPECT_LE(err, 1e-3);
}

}  // namespace
}  // namespace aprc
