// The greedy choice, spelled once for every host path (Session, Sampler, bench, verify, kernel
// profiles): the first index of the largest value, NaN never chosen, 0 when there is none. The device
// sampler (codegen/cuda/device/sampling.cuh) follows the same rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

namespace aprc {

// The greedy choice and whether any value was NaN, in one pass over the row.
struct GreedyPick {
  int64_t index = 0;
  bool saw_nan = false;
};

inline GreedyPick greedy_pick(const float* v, int64_t n) {
  int64_t best = -1;
  bool saw_nan = false;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(v[i]))
      saw_nan = true;
    else if (best < 0 || v[i] > v[best])
      best = i;
  }
  return {best < 0 ? 0 : best, saw_nan};
}

inline int64_t first_argmax(const float* v, int64_t n) { return greedy_pick(v, n).index; }

inline int32_t first_argmax(std::span<const float> v) {
  return static_cast<int32_t>(first_argmax(v.data(), static_cast<int64_t>(v.size())));
}

}  // namespace aprc
