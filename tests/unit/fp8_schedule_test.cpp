// Per-token fp8 activations from the IR to the schedules: the lowering of a module cast with
// per-token-activations gives every prefill Linear step KernelSpec::fp8_activations (and a kernel
// name of its own) and no decode step (plan_format_test checks the manifest keeps the flag).
#include <gtest/gtest.h>

#include "aprc/codegen/schedule_builder.h"
#include "aprc/ir/builder.h"
#include "aprc/passes/pipeline.h"
#include "ir_test_model.h"

namespace aprc {
namespace {

TEST(Fp8Schedule, PrefillLinearStepsCarryFp8Activations) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  ir::Module lowered = ir::build_module(m->model);
  passes::run_pipeline(lowered,
                       "aprc-optimize,aprc-cast-fp8{ops=all per-token-activations=1},aprc-repack-weights{target=cpu},"
                       "func.func(aprc-plan-memory{max-tokens=8})");
  const std::vector<Function> fs = codegen::build_schedules(lowered, {[](const std::string&) { return 0; }, nullptr});
  int checked = 0;
  for (const Function& f : fs)
    for (const Step& s : f.steps) {
      if (s.spec.kind != KernelKind::Linear) {
        EXPECT_FALSE(s.spec.fp8_activations) << f.name;
        continue;
      }
      EXPECT_EQ(s.spec.fp8_activations, f.name != "decode") << f.name << " " << s.spec.name();
      for (const WeightDesc& w : s.spec.weights) EXPECT_EQ(w.dtype, DType::FP8_E4M3) << f.name;
      EXPECT_EQ(s.spec.name().find("_fp8act") != std::string::npos, s.spec.fp8_activations) << s.spec.name();
      ++checked;
    }
  // prefill, prefill_last and decode: qkv, o, gate/up, down per layer and the logits.
  EXPECT_EQ(checked, 3 * (2 * 4 + 1));
}

}  // namespace
}  // namespace aprc
