#include "aprc/verify/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "aprc/error.h"

namespace aprc::verify {

TensorError compare(std::span<const float> ref, std::span<const float> got) {
  if (ref.size() != got.size())
    throw_internal("verify: comparing tensors of " + std::to_string(ref.size()) + " and " + std::to_string(got.size()) +
                   " values");
  TensorError e;
  double dot = 0, ref_sq = 0, got_sq = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], g = got[i];
    if (!std::isfinite(r) || !std::isfinite(g)) {
      if (e.finite) e.worst = static_cast<int64_t>(i);
      e.finite = false;
      continue;
    }
    e.ref_max = std::max(e.ref_max, std::fabs(r));
    const double d = std::fabs(g - r);
    if (d > e.max_abs || e.worst < 0) {
      if (e.finite) e.worst = static_cast<int64_t>(i);
      e.max_abs = std::max(e.max_abs, d);
    }
    dot += r * g;
    ref_sq += r * r;
    got_sq += g * g;
  }
  if (!e.finite) {
    e.max_abs = e.max_rel = std::numeric_limits<double>::infinity();
    e.cosine = std::numeric_limits<double>::quiet_NaN();
    return e;
  }
  if (e.ref_max > 0)
    e.max_rel = e.max_abs / e.ref_max;
  else
    e.max_rel = e.max_abs > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  if (ref_sq == 0 && got_sq == 0)
    e.cosine = 1;
  else if (ref_sq == 0 || got_sq == 0)
    e.cosine = 0;
  else
    e.cosine = std::clamp(dot / (std::sqrt(ref_sq) * std::sqrt(got_sq)), -1.0, 1.0);
  return e;
}

TensorError worst_of(const TensorError& a, const TensorError& b) {
  TensorError w = (!b.finite || (a.finite && b.max_rel > a.max_rel)) ? b : a;  // keeps its `worst`
  w.finite = a.finite && b.finite;
  w.max_abs = std::max(a.max_abs, b.max_abs);
  w.max_rel = std::max(a.max_rel, b.max_rel);
  w.ref_max = std::max(a.ref_max, b.ref_max);
  w.cosine = std::isnan(a.cosine) || std::isnan(b.cosine) ? std::numeric_limits<double>::quiet_NaN()
                                                          : std::min(a.cosine, b.cosine);
  return w;
}

}  // namespace aprc::verify
