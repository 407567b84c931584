// verify on a CPU plan (test kernels standing in for generated code; the plan's reference IR is the
// builder's module): the engine's step observer, reading each step's OutputName values, the
// reference on the plan's own weights, and faulty kernels swapped into one step, which verify names.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

#include "aprc/error.h"
#include "aprc/ir/builder.h"
#include "aprc/formats/layouts.h"
#include "aprc/verify/plan_verify.h"
#include "aprc/verify/plan_weights.h"
#include "aprc/verify/report.h"
#include "ir_test_model.h"
#include "plan_test_util.h"
#include "verify_test_plan.h"

namespace aprc::verify {
namespace {

using testing::make_test_model;
using testing::random_ids;
using testing::TestModelSpec;

CpuKernelFn g_test_linear = nullptr;

// test_linear, then every output it computed scaled by 1.5 and shifted: a wrong kernel.
extern "C" void faulty_linear(void* const* a, const int64_t* s, int64_t begin, int64_t end) {
  g_test_linear(a, s, begin, end);
  const int64_t T = s[0], N = s[2];
  float* out = static_cast<float*>(a[2]);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = begin; n < end; ++n) out[t * N + n] = out[t * N + n] * 1.5f + 0.25f;
}

// Wrong only for one-token calls: a decode-only bug.
extern "C" void decode_faulty_linear(void* const* a, const int64_t* s, int64_t begin, int64_t end) {
  if (s[0] == 1)
    faulty_linear(a, s, begin, end);
  else
    g_test_linear(a, s, begin, end);
}

// A NaN in the first column.
extern "C" void nan_linear(void* const* a, const int64_t* s, int64_t begin, int64_t end) {
  g_test_linear(a, s, begin, end);
  if (begin == 0) static_cast<float*>(a[2])[0] = std::nanf("");
}

CpuKernelResolver resolver() {
  CpuKernelResolver base = testing::test_kernel_resolver();
  g_test_linear = base("test_linear");
  return testing::test_kernel_resolver(
      {{"faulty_linear", faulty_linear}, {"decode_faulty_linear", decode_faulty_linear}, {"nan_linear", nan_linear}});
}

struct PlanFixture {
  test::TempDir dir;
  std::unique_ptr<testing::TestModel> m;
  std::string path;
  PlanFixture(const TestModelSpec& spec, const testing::TestKernelPlanOptions& options = {})
      : m(make_test_model(spec)), path(dir.file("t.plan")) {
    testing::write_test_kernel_plan(path, m->model, ir::build_module(m->model).print(true), options);
  }
};

PlanVerifyOptions options(double tolerance = 1e-4, int decode_steps = 3) {
  PlanVerifyOptions o;
  o.verify.tolerance = tolerance;
  o.verify.decode_steps = decode_steps;
  o.engine.threads = 2;
  o.open = [](std::shared_ptr<const Plan> plan, std::string_view kind, const EngineOptions& eo) {
    if (kind != "cpu") throw_bad_input(plan->path() + ": no " + std::string(kind) + " engine in this test");
    return open_cpu_engine(plan, eo, resolver());
  };
  return o;
}

TestModelSpec small_spec(int64_t layers = 3) {
  TestModelSpec spec;  // hidden 256, 4 heads and 2 kv heads of 64, mlp 512, mixed encodings
  spec.layers = layers;
  spec.vocab = 173;
  return spec;
}

// default_tolerance: 1e-3 for kernels in f32, 1e-2 once any kernel of any target rounds activations to
// fp8 per token, 5e-2 once one rounds them to int8 (plan_verify.h says why).
TEST(VerifyEngine, DefaultToleranceFollowsTheKernelsArithmetic) {
  PlanManifest m;
  m.targets.resize(2);
  m.targets[0].kernels.resize(2);
  m.targets[1].kernels.resize(1);
  EXPECT_EQ(default_tolerance(m), 1e-3);
  m.targets[1].kernels[0].spec.fp8_activations = true;
  EXPECT_EQ(default_tolerance(m), 1e-2);
  m.targets[0].kernels[1].spec.int8_activations = true;
  EXPECT_EQ(default_tolerance(m), 5e-2);
}

TEST(VerifyEngine, ACorrectPlanPassesOnEveryOpOfPrefillAndDecode) {
  PlanFixture f(small_spec());
  const std::vector<int32_t> prompt = random_ids(11, 173, 1);  // 8 + 3: two prefill calls
  const Verification v = verify_plan(f.path, prompt, options());
  ASSERT_EQ(v.engines.size(), 1u);
  const EngineCheck& e = v.engines[0];
  EXPECT_EQ(e.engine, "cpu");
  EXPECT_TRUE(e.passed()) << describe_failure(e, v.tolerance);
  ASSERT_EQ(e.calls.size(), 5u);
  EXPECT_EQ(e.calls[1].call.label(), "prefill of positions [8, 11)");
  EXPECT_EQ(e.calls[2].call.label(), "decode at position 11");
  for (const CallCheck& c : e.calls) {
    EXPECT_EQ(c.ops.size(), 3u * 15 + 3) << c.call.label();  // every op with a value but silu
    for (const OpCheck& o : c.ops) {
      EXPECT_LT(o.error.max_rel, 1e-5) << o.op << " in " << c.call.label();
      EXPECT_GT(o.error.cosine, 0.99999) << o.op;
      EXPECT_GE(o.step, 0);
      EXPECT_FALSE(o.kernel.empty());
    }
  }
  EXPECT_EQ(not_produced(e), std::vector<std::string>{"layers.N.mlp.silu"});
  EXPECT_EQ(e.calls[0].ops[0].op, "embed");
  EXPECT_EQ(e.calls[0].ops.back().op, "logits");
}

TEST(VerifyEngine, AFaultyKernelInLayerTwosDownProjectionIsNamed) {
  testing::TestKernelPlanOptions po;
  po.kernels = {{"layers.2.mlp.down_proj", "faulty_linear"}};
  PlanFixture f(small_spec(4), po);
  const Verification v = verify_plan(f.path, random_ids(6, 173, 2), options());
  const EngineCheck& e = v.engines[0];
  ASSERT_TRUE(e.failure);
  const OpCheck* bad = e.failed_op();
  EXPECT_EQ(bad->op, "layers.2.mlp.down_proj");
  EXPECT_EQ(bad->kernel, "faulty_linear");
  EXPECT_EQ(bad->ops, std::vector<std::string>{"layers.2.mlp.down_proj"});
  EXPECT_EQ(e.failure->call, 0u);
  const std::string line = verdict(v);
  EXPECT_NE(line.find("FAIL: cpu: first op over tolerance: layers.2.mlp.down_proj in prefill of positions [0, 6)"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("kernel faulty_linear"), std::string::npos) << line;
}

TEST(VerifyEngine, ADecodeOnlyFaultIsFoundInTheFirstDecodeStep) {
  testing::TestKernelPlanOptions po;
  po.kernels = {{"layers.0.attn.o_proj", "decode_faulty_linear"}};
  PlanFixture f(small_spec(2), po);
  const Verification v = verify_plan(f.path, random_ids(5, 173, 3), options());
  const EngineCheck& e = v.engines[0];
  ASSERT_TRUE(e.failure);
  EXPECT_EQ(e.failed_op()->op, "layers.0.attn.o_proj");
  EXPECT_EQ(e.calls[e.failure->call].call.label(), "decode at position 5");
}

TEST(VerifyEngine, NaNNeverPasses) {
  testing::TestKernelPlanOptions po;
  po.kernels = {{"layers.1.mlp.gate_proj", "nan_linear"}};
  PlanFixture f(small_spec(2), po);
  const Verification v = verify_plan(f.path, random_ids(3, 173, 4), options(1e30));
  const EngineCheck& e = v.engines[0];
  ASSERT_TRUE(e.failure);
  EXPECT_EQ(e.failed_op()->op, "layers.1.mlp.gate_proj");
  EXPECT_FALSE(e.failed_op()->error.finite);
  EXPECT_NE(describe_failure(e, v.tolerance).find("non-finite value"), std::string::npos);
}

TEST(VerifyEngine, UnavailableEnginesAreSkippedWithTheReason) {
  PlanFixture f(small_spec(1));
  PlanVerifyOptions o = options();
  o.engines = {"cuda", "cpu"};
  const Verification v = verify_plan(f.path, random_ids(3, 173, 5), o);
  ASSERT_EQ(v.engines.size(), 2u);
  EXPECT_EQ(v.engines[0].engine, "cuda");
  EXPECT_EQ(v.engines[0].skipped, "the plan has no code for it");
  EXPECT_TRUE(v.engines[1].passed());
  EXPECT_TRUE(v.passed());
  EXPECT_EQ(v.engines_run(), 1);
  EXPECT_NE(verdict(v).find("cuda skipped (the plan has no code for it)"), std::string::npos) << verdict(v);
}

TEST(VerifyEngine, APlanWithoutReferenceIrIsRefused) {
  testing::TestKernelPlanOptions po;
  po.store_reference_ir = false;
  PlanFixture f(small_spec(1), po);
  try {
    verify_plan(f.path, random_ids(3, 173, 6), options());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_EQ(std::string(e.what()), f.path + ": the plan has no reference IR (section ir.reference) to verify against");
  }
}

TEST(VerifyEngine, ThePromptMustFitTheContext) {
  testing::TestKernelPlanOptions po;
  po.max_context = 10;
  PlanFixture f(small_spec(1), po);
  try {
    verify_plan(f.path, random_ids(8, 173, 7), options());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("8 prompt tokens and 3 decode steps do not fit the plan's context of 10"),
              std::string::npos)
        << e.what();
  }
}

// The observer hook itself: every step, in order, after it ran; a clock only when asked.
struct Recorder final : StepObserver {
  bool timing = false;
  std::vector<std::tuple<std::string, size_t, int64_t, int64_t, double>> events;
  std::vector<float> embed_row;
  bool wants_timing() const override { return timing; }
  void after_step(const StepEvent& e) override {
    events.emplace_back(e.function.name, e.index, e.T, e.pos, e.seconds);
    if (e.index == 0) {
      embed_row.resize(static_cast<size_t>(e.step().outputs[0].cols));
      e.buffers.read(2, 0, embed_row.size() * 4, embed_row.data());
      float x;
      EXPECT_THROW(e.buffers.read(3, 0, 4, &x), Error);  // the embedding step has three arguments
    }
  }
};

TEST(VerifyEngine, TheStepObserverSeesEveryStepInOrder) {
  PlanFixture f(small_spec(1));
  auto plan = Plan::open(f.path);
  EngineOptions eo;
  eo.threads = 2;
  eo.context = 16;
  auto engine = open_cpu_engine(plan, eo, resolver());
  const Function& prefill = *plan->target("cpu")->function("prefill");
  Recorder rec;
  std::vector<float> logits(3 * 173);
  const std::vector<int32_t> ids = {5, 9, 2};
  engine->set_step_observer(&rec);
  engine->run(prefill, ids, 0, logits.data());
  ASSERT_EQ(rec.events.size(), prefill.steps.size());
  for (size_t i = 0; i < rec.events.size(); ++i) {
    EXPECT_EQ(std::get<0>(rec.events[i]), "prefill");
    EXPECT_EQ(std::get<1>(rec.events[i]), i);
    EXPECT_EQ(std::get<2>(rec.events[i]), 3);
    EXPECT_EQ(std::get<3>(rec.events[i]), 0);
    EXPECT_EQ(std::get<4>(rec.events[i]), 0.0);  // not timed
  }
  // The first row of the embedding is the dequantized table row of token 5.
  std::vector<float> want(256);
  dequantize_rows(TensorView{plan->manifest().weights[0].dtype, plan->manifest().weights[0].shape, plan->weight(0)}, 5, 6,
                  want.data());
  EXPECT_EQ(plan->manifest().weights[0].name, "embed.weight");
  EXPECT_EQ(rec.embed_row, want);

  rec.events.clear();
  rec.timing = true;
  const Function& decode = *plan->target("cpu")->function("decode");
  engine->run(decode, std::vector<int32_t>{7}, 3, logits.data());
  ASSERT_EQ(rec.events.size(), decode.steps.size());
  double total = 0;
  for (const auto& ev : rec.events) {
    EXPECT_EQ(std::get<3>(ev), 3);
    EXPECT_GE(std::get<4>(ev), 0.0);
    total += std::get<4>(ev);
  }
  EXPECT_GT(total, 0.0);
  // Without an observer nothing is called.
  engine->set_step_observer(nullptr);
  rec.events.clear();
  engine->run(decode, std::vector<int32_t>{7}, 4, logits.data());
  EXPECT_TRUE(rec.events.empty());
}

}  // namespace
}  // namespace aprc::verify

namespace aprc::verify {
namespace {

// The reference's weights from a plan that stores a symbol more than once (one entry per target
// layout): the entry it can give back unchanged or rearrange back losslessly (a cpu or a cuda layout)
// is used, whatever the order; when none can, the error asks for the model file.
TEST(PlanWeightsSource, TakesTheEntryItCanGiveBackLosslessly) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t rows = 19, cols = 64;
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (float& v : x) v = u(rng);
  const std::vector<uint8_t> q8 = quantize_tensor(DType::Q8_0, x.data(), rows, cols);
  const std::vector<uint8_t> f16 = quantize_tensor(DType::F16, x.data(), rows, cols);
  const reference::WeightDecl decl{"w", "w", DType::Q8_0, {rows, cols}, WeightLayout::RowMajor, ScaleGranularity::PerChannel};

  auto write = [&](const std::string& path, std::optional<WeightLayout> packed) {
    PlanWriter writer(path);
    PlanWeight cast{"w", "w", DType::F16, WeightLayout::RowMajor, ScaleGranularity::PerChannel, {rows, cols}};
    writer.add_weight(cast, f16);  // another encoding: cannot give the q8_0 values back
    if (packed) {
      PlanWeight w{"w", "w", DType::Q8_0, *packed, ScaleGranularity::PerChannel, {rows, cols}};
      writer.add_weight(w, repack(*packed, TensorView{DType::Q8_0, {rows, cols}, q8}));
    }
    PlanManifest m;
    m.source = "test";
    m.config = test::small_config();
    m.kv_cache = KvCacheGeometry{m.config.num_layers, m.config.num_kv_heads, m.config.head_dim, DType::F32, 16};
    m.weights = writer.weights();
    writer.finish(m);
  };
  test::TempDir dir;
  for (WeightLayout layout : {WeightLayout::CpuR16, WeightLayout::CudaQ8_0}) {
    SCOPED_TRACE(layout_name(layout));
    write(dir.file("two.plan"), layout);
    PlanWeights two(Plan::open(dir.file("two.plan")));
    const TensorView got = two.weight(decl);
    EXPECT_EQ(std::vector<uint8_t>(got.bytes.begin(), got.bytes.end()), q8);
  }

  write(dir.file("cast.plan"), std::nullopt);
  PlanWeights cast(Plan::open(dir.file("cast.plan")));
  try {
    cast.weight(decl);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("give the model file with --model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc::verify
