// The sliding-window perplexity (aprc/perplexity.h) against a brute-force reading of its
// definition, on a stand-in model whose logits at a position depend on every earlier token of its
// window: each target t is scored in the first window that ends past it and has context for it,
// from a fresh run of that window's tokens up to t.
#include <gtest/gtest.h>

#include <cmath>

#include "aprc/error.h"
#include "aprc/perplexity.h"

namespace aprc {
namespace {

constexpr int64_t kVocab = 37;

// Logits of position p of a sequence: a hash of the tokens [0, p] (so a window's logits differ
// from the same tokens' logits in a longer sequence), spread over a few units.
std::vector<float> position_logits(std::span<const int32_t> seq, size_t p) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i <= p; ++i) h = (h ^ static_cast<uint64_t>(seq[i] + 7 * i)) * 1099511628211ull;
  std::vector<float> row(kVocab);
  for (int64_t v = 0; v < kVocab; ++v) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    row[v] = static_cast<float>((h >> 40) % 10007) / 1000.0f - 5.0f;
  }
  return row;
}

std::vector<float> window_logits(std::span<const int32_t> ids) {
  std::vector<float> out;
  for (size_t p = 0; p < ids.size(); ++p) {
    const auto row = position_logits(ids, p);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// The brute force: for each target, the window that scores it, found from the definition, and
// its NLL from a fresh run of the window's tokens up to the target (long double log-softmax).
struct Brute {
  long double sum = 0;
  int64_t scored = 0;
};
Brute brute_force(const std::vector<int32_t>& ids, int64_t w, int64_t s) {
  const int64_t n = static_cast<int64_t>(ids.size());
  Brute b;
  for (int64_t t = 1; t < n; ++t) {
    // The first window (begin = k s, end = min(k s + w, n)) whose end lies past t.
    int64_t begin = 0;
    while (std::min(begin + w, n) <= t) begin += s;
    if (begin == t) continue;  // no context for t in its window (only when s == w)
    const std::span<const int32_t> prefix(ids.data() + begin, static_cast<size_t>(t - begin));
    const auto row = position_logits(prefix, prefix.size() - 1);
    long double max = row[0], z = 0;
    for (float v : row) max = std::max<long double>(max, v);
    for (float v : row) z += std::exp(static_cast<long double>(v) - max);
    b.sum += -(static_cast<long double>(row[ids[t]]) - max - std::log(z));
    ++b.scored;
  }
  return b;
}

std::vector<int32_t> random_ids(int64_t n, uint32_t seed) {
  std::vector<int32_t> ids;
  uint32_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(static_cast<int32_t>((x >> 8) % kVocab));
  }
  return ids;
}

TEST(Perplexity, MatchesTheBruteForceForEveryWindowAndStride) {
  for (int64_t n : {2, 3, 17, 64, 101}) {
    const auto ids = random_ids(n, static_cast<uint32_t>(n));
    for (auto [w, s] : {std::pair<int64_t, int64_t>{16, 8}, {16, 16}, {7, 3}, {7, 7}, {5, 1}, {200, 100}, {2, 1}, {2, 2}}) {
      SCOPED_TRACE("n " + std::to_string(n) + " window " + std::to_string(w) + " stride " + std::to_string(s));
      const PerplexityResult r = sliding_window_perplexity(ids, kVocab, {w, s}, window_logits);
      const Brute b = brute_force(ids, w, s);
      EXPECT_EQ(r.tokens, n);
      EXPECT_EQ(r.scored, b.scored);
      if (s < w) {
        EXPECT_EQ(r.scored, n - 1);
      }
      ASSERT_GT(r.scored, 0);
      EXPECT_NEAR(r.nll_sum, static_cast<double>(b.sum), 1e-9 * std::fabs(static_cast<double>(b.sum)));
      EXPECT_NEAR(r.perplexity(), std::exp(static_cast<double>(b.sum / b.scored)), 1e-9 * r.perplexity());
    }
  }
}

TEST(Perplexity, EachWindowIsAFreshSequence) {
  const auto ids = random_ids(40, 5);
  std::vector<std::vector<int32_t>> seen;
  sliding_window_perplexity(ids, kVocab, {16, 8}, [&](std::span<const int32_t> w) {
    seen.emplace_back(w.begin(), w.end());
    return window_logits(w);
  });
  // Windows [0,16) [8,24) [16,32) [24,40).
  ASSERT_EQ(seen.size(), 4u);
  for (size_t k = 0; k < seen.size(); ++k)
    EXPECT_EQ(seen[k], std::vector<int32_t>(ids.begin() + 8 * k, ids.begin() + 8 * k + 16)) << k;
}

TEST(Perplexity, TokenNllIsTheLogSoftmax) {
  const std::vector<float> row = {1.0f, 2.0f, 3.0f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(token_nll(row, 0), z - 1.0, 1e-12);
  EXPECT_NEAR(token_nll(row, 2), z - 3.0, 1e-12);
  // Large logits do not overflow.
  const std::vector<float> big = {1000.0f, 1000.0f};
  EXPECT_NEAR(token_nll(big, 1), std::log(2.0), 1e-12);
}

TEST(Perplexity, RefusesWhatItCannotScore) {
  const auto ids = random_ids(10, 1);
  auto refuses = [&](std::vector<int32_t> x, int64_t w, int64_t s, const char* piece) {
    try {
      sliding_window_perplexity(x, kVocab, {w, s}, window_logits);
      ADD_FAILURE() << "accepted " << piece;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << e.what();
    }
  };
  refuses({3}, 8, 4, "at least 2");
  refuses(ids, 1, 1, "--window");
  refuses(ids, 8, 9, "--stride");
  refuses(ids, 8, 0, "--stride");
  refuses({1, static_cast<int32_t>(kVocab)}, 8, 4, "outside the vocabulary");
}

}  // namespace
}  // namespace aprc
