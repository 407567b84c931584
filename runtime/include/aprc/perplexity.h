// Perplexity over a token sequence with a sliding window, the one algorithm `aprc perplexity` runs
// on every engine and training/train.py runs in PyTorch, so that their numbers compare:
//
//   N = len(ids); prev_end = 0
//   for begin = 0, S, 2S, ...:
//     end = min(begin + W, N)
//     run ids[begin:end] as a fresh sequence (positions from 0, an empty KV cache)
//     score each target t in [max(prev_end, begin + 1), end) by -log softmax(logits at window
//       position t - begin - 1)[ids[t]]   (log-softmax in double)
//     prev_end = end; stop when end == N
//   perplexity = exp(sum / scored)
//
// With S < W every target 1..N-1 is scored once (scored = N - 1), each with at least W - S tokens
// of context after the first window. With S == W the first token of each later window has no
// context in its window and is not scored (as Hugging Face's recipe does). S > W would skip tokens
// and is refused.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "aprc/progress.h"

namespace aprc {

struct PerplexityOptions {
  int64_t window = 512;
  int64_t stride = 256;
};

struct PerplexityResult {
  int64_t tokens = 0;   // N
  int64_t scored = 0;   // targets scored
  int64_t windows = 0;  // windows run
  double nll_sum = 0;   // sum of -log p over the scored targets
  double nll_mean() const { return scored > 0 ? nll_sum / static_cast<double>(scored) : 0.0; }
  double perplexity() const;
};

// The logits of every position of `ids` run as a fresh sequence, [ids.size()][vocab] row-major.
using WindowLogits = std::function<std::vector<float>(std::span<const int32_t> ids)>;

// -log softmax(logits)[target], in double.
double token_nll(std::span<const float> logits, int32_t target);

// Error(BadInput) when ids has fewer than 2 tokens, window < 2, or stride is not in [1, window].
// Progress: stage "perplexity windows".
PerplexityResult sliding_window_perplexity(std::span<const int32_t> ids, int64_t vocab, const PerplexityOptions& options,
                                           const WindowLogits& window_logits, Progress* progress = nullptr);

}  // namespace aprc
