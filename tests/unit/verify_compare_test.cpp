// verify's tensor comparison against the definitions computed here independently, on random
// non-zero values of odd sizes; NaN and infinity never pass.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "aprc/verify/compare.h"
#include "aprc/verify/verify.h"

namespace aprc::verify {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(VerifyCompare, MatchesTheDefinitionsOnRandomValues) {
  for (size_t n : {1u, 7u, 333u, 4099u}) {
    const std::vector<float> ref = random_values(n, 1 + n, 3.0f);
    std::vector<float> got = ref;
    const std::vector<float> noise = random_values(n, 2 + n, 1e-3f);
    for (size_t i = 0; i < n; ++i) got[i] += noise[i];
    // The definitions, computed the slow way.
    long double ref_max = 0, max_abs = 0, dot = 0, rr = 0, gg = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; ++i) {
      ref_max = std::max<long double>(ref_max, std::fabs(static_cast<long double>(ref[i])));
      const long double d = std::fabs(static_cast<long double>(got[i]) - ref[i]);
      if (d > max_abs) {
        max_abs = d;
        worst = i;
      }
      dot += static_cast<long double>(ref[i]) * got[i];
      rr += static_cast<long double>(ref[i]) * ref[i];
      gg += static_cast<long double>(got[i]) * got[i];
    }
    const TensorError e = compare(ref, got);
    SCOPED_TRACE(n);
    EXPECT_TRUE(e.finite);
    EXPECT_NEAR(e.max_abs, static_cast<double>(max_abs), 1e-12);
    EXPECT_NEAR(e.ref_max, static_cast<double>(ref_max), 1e-12);
    EXPECT_NEAR(e.max_rel, static_cast<double>(max_abs / ref_max), 1e-12);
    EXPECT_NEAR(e.cosine, static_cast<double>(dot / std::sqrt(rr * gg)), 1e-9);
    EXPECT_EQ(e.worst, static_cast<int64_t>(worst));
    EXPECT_TRUE(e.within(1e-2));
    EXPECT_FALSE(e.within(e.max_rel / 2));
  }
}

TEST(VerifyCompare, EqualTensorsHaveNoErrorAndOppositeOnesCosineMinusOne) {
  const std::vector<float> ref = random_values(257, 5);
  const TensorError same = compare(ref, ref);
  EXPECT_EQ(same.max_abs, 0.0);
  EXPECT_EQ(same.max_rel, 0.0);
  EXPECT_NEAR(same.cosine, 1.0, 1e-12);
  EXPECT_TRUE(same.within(0.0));
  std::vector<float> neg = ref;
  for (float& x : neg) x = -x;
  const TensorError opposite = compare(ref, neg);
  EXPECT_NEAR(opposite.cosine, -1.0, 1e-12);
  EXPECT_NEAR(opposite.max_rel, 2.0, 1e-6);
}

TEST(VerifyCompare, ZeroTensors) {
  const std::vector<float> zero(9, 0.0f), one(9, 1.0f);
  EXPECT_TRUE(compare(zero, zero).within(0.0));
  EXPECT_EQ(compare(zero, zero).cosine, 1.0);
  const TensorError e = compare(zero, one);  // anything where the reference is all zero is infinitely wrong
  EXPECT_FALSE(e.within(1e30));
  EXPECT_EQ(e.cosine, 0.0);
}

TEST(VerifyCompare, NonFiniteValuesNeverPass) {
  const std::vector<float> ref = random_values(31, 9);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (bool in_ref : {false, true}) {
      std::vector<float> a = ref, b = ref;
      (in_ref ? a : b)[17] = bad;
      const TensorError e = compare(a, b);
      EXPECT_FALSE(e.finite);
      EXPECT_FALSE(e.within(1e30));
      EXPECT_EQ(e.worst, 17);
      EXPECT_TRUE(std::isinf(e.max_rel));
    }
  }
}

TEST(VerifyCompare, WorstOfTakesTheWorstOfEachNumber) {
  TensorError a, b;
  a.max_abs = 1, a.max_rel = 0.1, a.cosine = 0.9, a.ref_max = 10;
  b.max_abs = 2, b.max_rel = 0.05, b.cosine = 0.95, b.ref_max = 40;
  const TensorError w = worst_of(a, b);
  EXPECT_EQ(w.max_abs, 2);
  EXPECT_EQ(w.max_rel, 0.1);
  EXPECT_EQ(w.cosine, 0.9);
  EXPECT_EQ(w.ref_max, 40);
  b.finite = false;
  EXPECT_FALSE(worst_of(a, b).finite);
}

TEST(VerifyCompare, LayerOfAnOpName) {
  EXPECT_EQ(layer_of("layers.0.attn.q_proj"), 0);
  EXPECT_EQ(layer_of("layers.27.mlp_residual"), 27);
  EXPECT_EQ(layer_of("embed"), -1);
  EXPECT_EQ(layer_of("logits"), -1);
  EXPECT_EQ(layer_of("layers.x.mlp"), -1);
  EXPECT_EQ(layer_of("layers.3"), -1);
}

}  // namespace
}  // namespace aprc::verify
