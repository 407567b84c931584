// Comparing rows of logits in tests: the largest difference relative to the row's scale, argmax.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

#include "aprc/argmax.h"

namespace aprc::testing {

// The largest |a - b| over a row, relative to the row's largest |b|; NaN gives infinity.
inline double row_error(const float* got, const float* want, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(got[i])) return INFINITY;
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return diff / scale;
}

// The runtime's greedy rule (aprc/argmax.h).
inline int32_t argmax(std::span<const float> row) { return first_argmax(row); }

}  // namespace aprc::testing
