// The sampler: each stage against probabilities computed here by hand from a known distribution,
// the draws against those probabilities, and determinism for a seed.
#include "aprc/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "aprc/argmax.h"
#include "aprc/error.h"

namespace aprc {
namespace {

// p = [0.40, 0.25, 0.15, 0.10, 0.06, 0.04] placed at shuffled ids.
const std::vector<int32_t> kIds = {3, 0, 5, 1, 4, 2};
const std::vector<double> kP = {0.40, 0.25, 0.15, 0.10, 0.06, 0.04};

std::vector<float> known_logits() {
  std::vector<float> l(6);
  for (size_t i = 0; i < 6; ++i) l[kIds[i]] = static_cast<float>(std::log(kP[i]) + 1.5);  // any shift
  return l;
}

SamplerConfig plain() {  // every filter off, temperature 1
  SamplerConfig c;
  c.temperature = 1;
  c.top_k = 0;
  c.top_p = 1;
  c.min_p = 0;
  c.repeat_penalty = 1;
  return c;
}

// Expects the distribution to be the first `keep` of kP, each raised to 1/temperature, renormalized.
void expect_distribution(const std::vector<TokenProbability>& d, size_t keep, double temperature = 1) {
  ASSERT_EQ(d.size(), keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += std::pow(kP[i], 1 / temperature);
  for (size_t i = 0; i < keep; ++i) {
    EXPECT_EQ(d[i].id, kIds[i]);
    EXPECT_NEAR(d[i].p, std::pow(kP[i], 1 / temperature) / total, 1e-6) << "rank " << i;
  }
}

TEST(FirstArgmax, TheFirstMaximumNeverNaN) {
  const float nan = std::nanf(""), inf = INFINITY;
  EXPECT_EQ(first_argmax(std::vector<float>{1.f, 3.f, 2.f, 3.f}), 1) << "ties: the first";
  EXPECT_EQ(first_argmax(std::vector<float>{nan, -5.f, nan, -4.f, nan}), 3) << "NaN is never the maximum";
  EXPECT_EQ(first_argmax(std::vector<float>{nan, nan}), 0) << "all NaN: 0";
  EXPECT_EQ(first_argmax(std::vector<float>{-inf, -inf, -inf}), 0) << "all -inf: the first";
  EXPECT_EQ(first_argmax(std::vector<float>{-inf, inf, nan}), 1);
  EXPECT_EQ(first_argmax(std::vector<float>{}), 0) << "nothing: 0";
}

TEST(FirstArgmax, GreedyPickAlsoTellsWhetherARowHeldNaN) {
  const float nan = std::nanf("");
  const std::vector<float> clean{1.f, 3.f, 2.f}, dirty{nan, -5.f, nan, -4.f};
  EXPECT_EQ(greedy_pick(clean.data(), 3).index, 1);
  EXPECT_FALSE(greedy_pick(clean.data(), 3).saw_nan);
  EXPECT_EQ(greedy_pick(dirty.data(), 4).index, 3);
  EXPECT_TRUE(greedy_pick(dirty.data(), 4).saw_nan);
  EXPECT_TRUE(greedy_pick(dirty.data(), 1).saw_nan);
  EXPECT_EQ(greedy_pick(dirty.data(), 1).index, 0) << "all NaN: 0";
}

TEST(Sampler, NoFilterIsTheSoftmax) { expect_distribution(Sampler(plain()).distribution(known_logits()), 6); }

TEST(Sampler, TopK) {
  auto c = plain();
  c.top_k = 3;
  expect_distribution(Sampler(c).distribution(known_logits()), 3);
  c.top_k = 100;
  expect_distribution(Sampler(c).distribution(known_logits()), 6);
}

TEST(Sampler, TopP) {
  auto c = plain();
  c.top_p = 0.6f;  // 0.40 + 0.25 reaches it
  expect_distribution(Sampler(c).distribution(known_logits()), 2);
  c.top_p = 0.86f;  // 0.40 + 0.25 + 0.15 + 0.10 = 0.90
  expect_distribution(Sampler(c).distribution(known_logits()), 4);
  c.top_p = 0;
  expect_distribution(Sampler(c).distribution(known_logits()), 1);
}

TEST(Sampler, MinP) {
  auto c = plain();
  c.min_p = 0.3f;  // keeps p >= 0.12
  expect_distribution(Sampler(c).distribution(known_logits()), 3);
}

TEST(Sampler, TemperatureAppliesAfterTheFilters) {
  auto c = plain();
  c.temperature = 0.5f;
  expect_distribution(Sampler(c).distribution(known_logits()), 6, 0.5);
  // top-p chooses on the untempered distribution (llama.cpp's order): still two tokens at T = 3.
  c.temperature = 3;
  c.top_p = 0.6f;
  expect_distribution(Sampler(c).distribution(known_logits()), 2, 3);
}

TEST(Sampler, GreedyTakesTheMaximumLowestIdOnTies) {
  Sampler s(SamplerConfig::greedy());
  EXPECT_EQ(s.sample(known_logits()), 3);
  std::vector<float> tie = {1, 5, 2, 5};
  EXPECT_EQ(s.sample(tie), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  auto c = plain();
  c.repeat_penalty = 2;
  c.repeat_last_n = 2;
  Sampler s(c);
  std::vector<float> logits = {2.0f, -1.0f, 1.5f, 0.5f};
  s.accept(0);
  s.accept(1);
  s.accept(1);  // counted once
  // Remembered: the last two tokens are 1 and 1, so only token 1 is penalized: -1 -> -2.
  std::vector<double> expect = {2.0, -2.0, 1.5, 0.5};
  auto d = s.distribution(logits);
  double total = 0;
  for (double x : expect) total += std::exp(x);
  std::map<int32_t, double> got;
  for (auto [id, p] : d) got[id] = p;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], std::exp(expect[i]) / total, 1e-9) << i;

  // Greedy with a penalty: 2.0 / 2 = 1.0 < 1.5, so token 2 wins once token 0 was seen.
  auto g = SamplerConfig::greedy();
  g.repeat_penalty = 2;
  Sampler greedy(g);
  EXPECT_EQ(greedy.sample(logits), 0);
  greedy.accept(0);
  EXPECT_EQ(greedy.sample(logits), 2);
}

TEST(Sampler, DrawsFollowTheDistribution) {
  auto c = plain();
  c.top_k = 4;
  c.seed = 2024;
  Sampler s(c);
  auto logits = known_logits();
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits)];
  EXPECT_EQ(counts.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[kIds[i]] / double(n), kP[i] / 0.9, 0.01) << "rank " << i;
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 2);
  std::vector<std::vector<float>> rows(300, std::vector<float>(1001));
  for (auto& r : rows)
    for (float& x : r) x = normal(rng);
  auto run = [&](uint64_t seed) {
    SamplerConfig c;  // the defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05
    c.seed = seed;
    c.repeat_penalty = 1.1f;
    Sampler s(c);
    std::vector<int32_t> out;
    for (const auto& r : rows) out.push_back(s.next(r));
    return out;
  };
  auto a = run(42), b = run(42), other = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other);
}

TEST(Sampler, TopPOnAFullVocabularyMatchesASortedReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> logits(151936);
  for (float& x : logits) x = normal(rng);
  for (float p : {0.5f, 0.9f, 0.999f}) {
    auto c = plain();
    c.top_p = p;
    auto d = Sampler(c).distribution(logits);
    // Reference: sort everything, keep the shortest prefix reaching p.
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    double lmax = logits[order[0]], total = 0;
    for (float x : logits) total += std::exp(double(x) - lmax);
    size_t keep = 0;
    for (double cum = 0; keep < order.size() && cum < p; ++keep) cum += std::exp(double(logits[order[keep]]) - lmax) / total;
    ASSERT_EQ(d.size(), keep) << "top-p " << p;
    double kept = 0;
    for (size_t i = 0; i < keep; ++i) kept += std::exp(double(logits[order[i]]) - lmax);
    for (size_t i = 0; i < keep; i += std::max<size_t>(1, keep / 50)) {
      EXPECT_EQ(d[i].id, order[i]);
      EXPECT_NEAR(d[i].p, std::exp(double(logits[order[i]]) - lmax) / kept, 1e-9);
    }
  }
}

TEST(Sampler, RejectsNanLogitsAndBadSettings) {
  Sampler s(plain());
  std::vector<float> logits = {1, NAN, 2};
  try {
    s.sample(logits);
    FAIL() << "sampled from NaN logits";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
  }
  EXPECT_THROW(s.sample(std::vector<float>{1, INFINITY}), Error);
  auto c = plain();
  c.repeat_penalty = 0;
  EXPECT_THROW(Sampler{c}, Error);
  c = plain();
  c.top_p = -0.1f;
  EXPECT_THROW(Sampler{c}, Error);
  c = plain();
  c.min_p = 1.5f;
  EXPECT_THROW(Sampler{c}, Error);
}

}  // namespace
}  // namespace aprc
