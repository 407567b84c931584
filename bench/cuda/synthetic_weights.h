// Random weights of every format in row_major bytes: random bits everywhere (every code path of a
// format gets exercised) except the block scales, which get sane f16 magnitudes so that values stay
// finite. Shared by the benchmarks (synthetic models) and the CUDA tests.
#pragma once

#include <cstdint>
#include <vector>

#include "aprc/formats/formats.h"

namespace aprc::cuda::synthetic {

// Deterministic for (dtype, rows, cols, seed). Float dtypes get values in [-1, 1); fp8e4m3 gets rows of
// different magnitudes cast with their scales (`scales` is only read for fp8e4m3).
std::vector<uint8_t> random_row_major(DType dtype, int64_t rows, int64_t cols, uint64_t seed,
                                      ScaleGranularity scales = ScaleGranularity::PerChannel);

// Round to nearest even.
uint16_t f32_to_f16_bits(float f);
uint16_t f32_to_bf16_bits(float f);

}  // namespace aprc::cuda::synthetic
