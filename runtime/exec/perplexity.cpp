#include "aprc/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "aprc/error.h"

namespace aprc {

double PerplexityResult::perplexity() const { return std::exp(nll_mean()); }

double token_nll(std::span<const float> logits, int32_t target) {
  double max = -INFINITY;
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return -(static_cast<double>(logits[static_cast<size_t>(target)]) - max - std::log(sum));
}

PerplexityResult sliding_window_perplexity(std::span<const int32_t> ids, int64_t vocab, const PerplexityOptions& options,
                                           const WindowLogits& window_logits, Progress* progress) {
  const int64_t n = static_cast<int64_t>(ids.size()), w = options.window, s = options.stride;
  if (n < 2) throw_bad_input("perplexity: the text gives " + std::to_string(n) + " tokens; it needs at least 2");
  if (w < 2) throw_bad_input("perplexity: --window must be at least 2, not " + std::to_string(w));
  if (s < 1 || s > w)
    throw_bad_input("perplexity: --stride must be between 1 and the window (" + std::to_string(w) + "), not " +
                    std::to_string(s));
  for (int32_t id : ids)
    if (id < 0 || id >= vocab)
      throw_bad_input("perplexity: token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
  int64_t total_windows = 1;
  while ((total_windows - 1) * s + w < n) ++total_windows;

  PerplexityResult r;
  r.tokens = n;
  int64_t prev_end = 0;
  for (int64_t begin = 0;; begin += s) {
    const int64_t end = std::min(begin + w, n);
    const std::vector<float> logits = window_logits(ids.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin)));
    if (static_cast<int64_t>(logits.size()) != (end - begin) * vocab)
      throw_internal("perplexity: a window of " + std::to_string(end - begin) + " tokens gave " +
                     std::to_string(logits.size()) + " logits");
    for (int64_t t = std::max(prev_end, begin + 1); t < end; ++t) {
      const std::span<const float> row(logits.data() + (t - begin - 1) * vocab, static_cast<size_t>(vocab));
      r.nll_sum += token_nll(row, ids[static_cast<size_t>(t)]);
      ++r.scored;
    }
    ++r.windows;
    report(progress, "perplexity windows", r.windows, total_windows);
    prev_end = end;
    if (end == n) break;
  }
  return r;
}

}  // namespace aprc
