// How far one tensor is from another: the numbers `aprc verify` reports for every op.
#pragma once

#include <cstdint>
#include <span>

namespace aprc::verify {

struct TensorError {
  double max_abs = 0;    // max |got - ref| (infinite when either side has a NaN or an infinity)
  double ref_max = 0;    // max |ref|
  double max_rel = 0;    // max_abs / ref_max: the error relative to the tensor's largest magnitude
  double cosine = 1;     // cos(got, ref), in doubles; 1 for two zero tensors, 0 when one is zero
  int64_t worst = -1;    // index of the largest |got - ref| (of the first non-finite value)
  bool finite = true;    // false when either side holds a NaN or an infinity: such a value never passes

  // Whether the error is within `tolerance` (relative): never for non-finite values.
  bool within(double tolerance) const { return finite && max_rel <= tolerance; }
};

// Compares `got` with `ref` (same length; the caller checks the shapes).
TensorError compare(std::span<const float> ref, std::span<const float> got);

// The worst of each number of two errors of one op (over calls): the larger max_abs, max_rel and
// ref_max, the smaller cosine; non-finite when either is.
TensorError worst_of(const TensorError& a, const TensorError& b);

}  // namespace aprc::verify
