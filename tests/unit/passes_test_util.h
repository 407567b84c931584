// What the passes' tests share: random token ids and the relative error they compare values by.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "aprc/interpreter/reference_ops.h"

namespace aprc::testing {

inline std::vector<int32_t> random_token_ids(size_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
  return ids;
}

// max |got - want| / max |want|; infinite when the shapes differ or anything is NaN.
inline double relative_error(const reference::Activation& got, const reference::Activation& want) {
  if (got.rows != want.rows || got.cols != want.cols) return std::numeric_limits<double>::infinity();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    if (std::isnan(got.data[i]) || std::isnan(want.data[i])) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::fabs(static_cast<double>(got.data[i]) - want.data[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want.data[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace aprc::testing
