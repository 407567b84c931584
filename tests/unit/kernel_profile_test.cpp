// `aprc bench --per-kernel` divides each step's time by what it must move and compute
// (kernel_profile.h, step_cost): the bytes and flops of each kind of step, worked out here from the
// shapes by hand, for a prefill and a decode call.
#include <gtest/gtest.h>

#include "kernel_profile.h"

namespace aprc::cli {
namespace {

// A manifest of these weights and an f16 KV cache.
PlanManifest manifest_with(std::vector<PlanWeight> weights) {
  PlanManifest m;
  m.kv_cache.dtype = DType::F16;
  m.weights = std::move(weights);
  return m;
}

PlanWeight weight(int64_t rows, int64_t cols, uint64_t bytes) {
  PlanWeight w;
  w.shape = {rows, cols};
  w.bytes = bytes;
  return w;
}

Step step_of(KernelSpec spec, std::vector<Arg> args) {
  Step s;
  s.spec = std::move(spec);
  s.args = std::move(args);
  s.scalars = {Expr::tokens()};
  return s;
}

Arg weight_arg(int64_t index) { return Arg{ArgKind::Weight, index, {}}; }

TEST(StepCost, LinearWithNormAndSwiGLU) {
  // gate and up [96, 32] each, 1000 bytes each, 5 tokens: reads x [5, 32] and the weights, writes
  // the SwiGLU product [5, 96]; 2 * 5 * 32 * 192 flops of products, the norm's 3 a input element,
  // the SwiGLU's 5 an output element.
  KernelSpec s;
  s.kind = KernelKind::Linear;
  s.weights = {WeightDesc{DType::Q8_0, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 96, 32},
               WeightDesc{DType::Q8_0, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 96, 32}};
  s.has_norm = true;
  s.epilogue = Epilogue::SwiGLU;
  const PlanManifest m = manifest_with({weight(96, 32, 1000), weight(96, 32, 1000)});
  const StepCost c = step_cost(step_of(s, {weight_arg(0), weight_arg(1)}), m, 5, 0);
  EXPECT_DOUBLE_EQ(c.weight_bytes, 2000);
  EXPECT_DOUBLE_EQ(c.activation_bytes, 4.0 * 5 * (32 + 96));
  EXPECT_DOUBLE_EQ(c.flops, 2.0 * 5 * 32 * 192 + 3.0 * 5 * 32 + 5.0 * 5 * 96);
  EXPECT_DOUBLE_EQ(c.cache_bytes, 0);
}

TEST(StepCost, LinearWithResidualReadsTheResidualToo) {
  KernelSpec s;
  s.kind = KernelKind::Linear;
  s.weights = {WeightDesc{DType::F16, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 64, 128}};
  s.epilogue = Epilogue::Residual;
  const PlanManifest m = manifest_with({weight(64, 128, 16384)});
  const StepCost c = step_cost(step_of(s, {weight_arg(0)}), m, 1, 7);
  EXPECT_DOUBLE_EQ(c.weight_bytes, 16384);
  EXPECT_DOUBLE_EQ(c.activation_bytes, 4.0 * (128 + 64 + 64));  // x, out, residual
  EXPECT_DOUBLE_EQ(c.flops, 2.0 * 128 * 64);
}

TEST(StepCost, EmbeddingReadsOnlyTheRowsItLooksUp) {
  KernelSpec s;
  s.kind = KernelKind::Embedding;
  s.cols = 32;
  const PlanManifest m = manifest_with({weight(1000, 32, 64000)});  // 64 bytes a row
  const StepCost c = step_cost(step_of(s, {weight_arg(0)}), m, 3, 0);
  EXPECT_DOUBLE_EQ(c.weight_bytes, 3 * 64);
  EXPECT_DOUBLE_EQ(c.activation_bytes, 4.0 * 3 * 32);
  EXPECT_DOUBLE_EQ(c.flops, 0);
}

KernelSpec attention(bool rope) {
  KernelSpec s;
  s.kind = KernelKind::Attention;
  s.heads = 4, s.kv_heads = 2, s.head_dim = 16;
  s.rope = rope;
  return s;
}

TEST(StepCost, DecodeAttentionReadsEveryCachedPosition) {
  // One token at position 9: keys and values of 10 positions, 2 kv heads of 16 f16 values each;
  // q.k and p.v over 10 keys for 4 heads of 16: 2 * 2 * 16 * 10 flops a head.
  const StepCost c = step_cost(step_of(attention(false), {}), manifest_with({}), 1, 9);
  EXPECT_DOUBLE_EQ(c.cache_bytes, 2.0 * 10 * 32 * 2);
  EXPECT_DOUBLE_EQ(c.activation_bytes, 2.0 * 64 * 4);  // q in, out
  EXPECT_DOUBLE_EQ(c.flops, 4.0 * 2 * 2 * 16 * 10);
}

TEST(StepCost, PrefillAttentionIsCausal) {
  // 3 tokens from position 0 attend to 1, 2 and 3 keys: 6 in all.
  const StepCost c = step_cost(step_of(attention(false), {}), manifest_with({}), 3, 0);
  EXPECT_DOUBLE_EQ(c.cache_bytes, 2.0 * 3 * 32 * 2);
  EXPECT_DOUBLE_EQ(c.flops, 4.0 * 2 * 2 * 16 * 6);
}

TEST(StepCost, RopeAttentionAddsTheAppendItDoesFirst) {
  // The fused decode kernel also rotates q and k, and writes k and v to the cache: the new row's
  // k and v (f16) on top of the attention's reads; k, v, q read and k, q written (f32).
  const StepCost plain = step_cost(step_of(attention(false), {}), manifest_with({}), 1, 9);
  const StepCost fused = step_cost(step_of(attention(true), {}), manifest_with({}), 1, 9);
  EXPECT_DOUBLE_EQ(fused.cache_bytes - plain.cache_bytes, 2.0 * 32 * 2);
  EXPECT_DOUBLE_EQ(fused.activation_bytes - plain.activation_bytes, 4.0 * (3 * 32 + 2 * 64));
  EXPECT_DOUBLE_EQ(fused.flops - plain.flops, 3.0 * (32 + 64));
}

TEST(StepCost, ElementwiseStepsMoveTheirRows) {
  KernelSpec s;
  s.cols = 10;
  s.kind = KernelKind::Add;
  EXPECT_DOUBLE_EQ(step_cost(step_of(s, {}), manifest_with({}), 2, 0).activation_bytes, 4.0 * 3 * 2 * 10);
  s.kind = KernelKind::RmsNorm;
  const StepCost n = step_cost(step_of(s, {}), manifest_with({}), 2, 0);
  EXPECT_DOUBLE_EQ(n.activation_bytes, 4.0 * 2 * 2 * 10);
  EXPECT_DOUBLE_EQ(n.flops, 3.0 * 2 * 10);
}

}  // namespace
}  // namespace aprc::cli
