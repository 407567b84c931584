// Quantize-then-dequantize on random data of odd sizes stays within each format's error bound, and
// the dequantizers (blocks.h through formats.cpp) agree with the independent per-element decoders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstring>
#include <random>

#include "aprc/error.h"
#include "aprc/formats/formats.h"
#include "aprc/formats/quantize_blocks.h"
#include "formats_test_decoders.h"

namespace aprc {
namespace {

enum class Dist { Gaussian, Outliers, Positive, Tiny, Zeros };

std::vector<float> random_data(size_t n, Dist dist, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    switch (dist) {
      case Dist::Gaussian: x[i] = 0.05f * g(rng) + 0.01f; break;
      case Dist::Outliers: x[i] = g(rng) * (u(rng) < 0.01f ? 40.0f : 1.0f); break;
      case Dist::Positive: x[i] = 0.5f + u(rng); break;
      case Dist::Tiny: x[i] = 1e-3f * g(rng); break;
      case Dist::Zeros: x[i] = (i % 97 == 5) ? 0.25f : 0.0f; break;
    }
  }
  return x;
}

float amax(const float* x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Per-element error bound of a block format, from the input alone: `x` is the block, i the element.
using Bound = std::function<double(const float* block, int i, float x)>;

struct BlockCase {
  DType dtype;
  Bound bound;
  double max_rel_rms;  // on Gaussian data
  double (*element)(const uint8_t* blk, int i);
};

double range32(const float* blk, int i) {
  const float* s = blk + (i / 32) * 32;
  float lo = 0, hi = 0;
  for (int k = 0; k < 32; ++k) {
    lo = std::min(lo, s[k]);
    hi = std::max(hi, s[k]);
  }
  return hi - lo;
}

// Q4_K / Q5_K: one step of the sub-block's range over `levels` plus the super-block's 6-bit codes.
double k_bound(const float* blk, int i, int levels) { return range32(blk, i) / levels + amax(blk, 256) / 50.0; }

// Q6_K: one step of the 16-weight sub-block (amax/32), plus the int8 scale's rounding.
double q6_k_bound(const float* blk, int i) { return amax(blk + (i / 16) * 16, 16) / 32.0 + amax(blk, 256) / 2000.0; }

std::vector<BlockCase> block_cases() {
  return {
      // q8_0: d = amax/127 (f16), round to nearest: half a step.
      {DType::Q8_0, [](const float* b, int, float) { return amax(b, 32) / 254.0 * 1.001; }, 0.006,
       testing::q8_0_element},
      // q5_0: the largest-magnitude element maps onto -16; its opposite may clamp at +15: one step.
      {DType::Q5_0, [](const float* b, int, float) { return amax(b, 32) / 16.0 * 1.001; }, 0.05,
       testing::q5_0_element},
      // aprq4: the same with -8..7.
      {DType::AprQ4, [](const float* b, int, float) { return amax(b, 32) / 8.0 * 1.001; }, 0.1,
       testing::aprq4_element},
      // q4_k: a step of the sub-block's range over 15 levels (the scale search may clamp the ends
      // of a sub-block by up to a step where that lowers the error of the rest), plus the 6-bit
      // quantization of the sub-block scale and min (1/63 of the super-block's largest magnitude).
      // The min/max choice keeps half of each (MinMaxIsTheBaselineTheSearchNeverLosesTo).
      {DType::Q4_K, [](const float* b, int i, float) { return k_bound(b, i, 15); }, 0.1, testing::q4_k_element},
      {DType::Q5_K, [](const float* b, int i, float) { return k_bound(b, i, 31); }, 0.05, testing::q5_k_element},
      // q6_k: one step of the 16-weight sub-block (amax/32), plus the int8 scale's rounding.
      {DType::Q6_K, [](const float* b, int i, float) { return q6_k_bound(b, i); }, 0.025, testing::q6_k_element},
  };
}

TEST(Quantize, BlockFormatsStayWithinTheirErrorBounds) {
  for (const BlockCase& c : block_cases()) {
    const FormatInfo& f = format_info(c.dtype);
    for (Dist dist : {Dist::Gaussian, Dist::Outliers, Dist::Positive, Dist::Tiny, Dist::Zeros}) {
      SCOPED_TRACE(std::string(f.name) + " distribution " + std::to_string(static_cast<int>(dist)));
      // Odd sizes: 7 rows of 3 (or 5) blocks.
      const int64_t rows = 7, cols = f.block_weights * (f.block_weights == 256 ? 3 : 5);
      const auto x = random_data(rows * cols, dist, 1234 + static_cast<int>(dist));
      const auto q = quantize_tensor(c.dtype, x.data(), rows, cols);
      ASSERT_EQ(q.size(), *tensor_bytes(c.dtype, std::vector<int64_t>{rows, cols}));
      const auto y = dequantize(TensorView{c.dtype, {rows, cols}, q});
      double err2 = 0, ref2 = 0;
      for (int64_t i = 0; i < rows * cols; ++i) {
        ASSERT_FALSE(std::isnan(y[i])) << i;
        const float* blk = x.data() + (i / f.block_weights) * f.block_weights;
        const int in_blk = static_cast<int>(i % f.block_weights);
        const double bound = c.bound(blk, in_blk, x[i]) + 1e-7;
        ASSERT_LE(std::fabs(y[i] - x[i]), bound) << "element " << i << " x=" << x[i] << " y=" << y[i];
        // blocks.h agrees with the independent decoder on the bytes just written.
        const uint8_t* qblk = q.data() + (i / f.block_weights) * f.block_bytes;
        const double ref = c.element(qblk, in_blk);
        ASSERT_NEAR(y[i], ref, 1e-6 * std::max(1.0, std::fabs(ref))) << "element " << i;
        err2 += (y[i] - x[i]) * (y[i] - x[i]);
        ref2 += static_cast<double>(x[i]) * x[i];
      }
      if (dist == Dist::Gaussian) {
        EXPECT_LT(std::sqrt(err2 / ref2), c.max_rel_rms);
      }
    }
  }
}

// One row of K-quant super-blocks, quantized block by block with `search`, dequantized.
std::vector<float> k_round_trip(DType dtype, const float* x, int blocks, KQuantSearch search) {
  const FormatInfo& f = format_info(dtype);
  std::vector<uint8_t> row(static_cast<size_t>(blocks) * f.block_bytes);
  for (int k = 0; k < blocks; ++k) {
    uint8_t* b = row.data() + k * f.block_bytes;
    const float* xb = x + k * APRC_QK_K;
    if (dtype == DType::Q4_K) quantize_block_q4_k(xb, reinterpret_cast<aprc_block_q4_k*>(b), search);
    if (dtype == DType::Q5_K) quantize_block_q5_k(xb, reinterpret_cast<aprc_block_q5_k*>(b), search);
    if (dtype == DType::Q6_K) quantize_block_q6_k(xb, reinterpret_cast<aprc_block_q6_k*>(b), search);
  }
  return dequantize(TensorView{dtype, {1, blocks * APRC_QK_K}, row});
}

double squared_error(const std::vector<float>& y, const float* x) {
  double e = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y[i])) return INFINITY;
    e += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
  }
  return e;
}

// The searched scales (what quantize_row writes) against the min/max ones on rows of odd block
// counts of non-zero data: never a larger squared error on any row, clearly smaller on average;
// the min/max baseline itself within half a step (it clamps nothing).
TEST(Quantize, MinMaxIsTheBaselineTheSearchNeverLosesTo) {
  for (DType dtype : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    double ratio_sum = 0;
    int rows = 0;
    for (Dist dist : {Dist::Gaussian, Dist::Outliers, Dist::Positive, Dist::Tiny}) {
      for (int blocks : {1, 3, 5, 7}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " distribution " + std::to_string(static_cast<int>(dist)) +
                     ", " + std::to_string(blocks) + " blocks");
        const auto x = random_data(static_cast<size_t>(blocks) * APRC_QK_K, dist, 77 + 10 * blocks + static_cast<int>(dist));
        const auto min_max = k_round_trip(dtype, x.data(), blocks, KQuantSearch::MinMax);
        const auto searched = k_round_trip(dtype, x.data(), blocks, KQuantSearch::ErrorMinimizing);
        std::vector<uint8_t> row(*row_bytes(dtype, blocks * APRC_QK_K));
        quantize_row(dtype, x.data(), blocks * APRC_QK_K, row.data());
        EXPECT_EQ(dequantize(TensorView{dtype, {1, blocks * APRC_QK_K}, row}), searched) << "quantize_row searches";
        const double e_min_max = squared_error(min_max, x.data()), e_searched = squared_error(searched, x.data());
        ASSERT_GT(e_min_max, 0);
        EXPECT_LE(e_searched, e_min_max);
        ratio_sum += e_searched / e_min_max;
        ++rows;
        for (int i = 0; i < blocks * APRC_QK_K; ++i) {
          const float* blk = x.data() + (i / APRC_QK_K) * APRC_QK_K;
          const int k = i % APRC_QK_K;
          const double baseline = dtype == DType::Q6_K ? q6_k_bound(blk, k)
                                                   : k_bound(blk, k, dtype == DType::Q4_K ? 15 : 31) / 2.0;
          ASSERT_LE(std::fabs(min_max[i] - x[i]), baseline + 1e-7) << "min/max, element " << i;
        }
      }
    }
    const double mean_ratio = ratio_sum / rows;
    std::printf("%s: searched / min-max squared error, mean over %d rows: %.3f\n", dtype_name(dtype), rows, mean_ratio);
    EXPECT_LT(mean_ratio, 0.9) << dtype_name(dtype);
  }
}

TEST(Quantize, FloatFormatsRoundEachElement) {
  const auto x = random_data(5 * 33, Dist::Outliers, 99);
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtype_name(d));
    const auto q = quantize_tensor(d, x.data(), 5, 33);
    const auto y = dequantize(TensorView{d, {5, 33}, q});
    const double rel = d == DType::F32 ? 0 : d == DType::F16 ? 1.0 / 2048 : 1.0 / 256;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(std::fabs(y[i] - x[i]), rel * std::fabs(x[i])) << i;
  }
}

TEST(Quantize, AprQ8UsesOneScaleForTheTensor) {
  const int64_t rows = 9, cols = 37;
  const auto x = random_data(rows * cols, Dist::Outliers, 5);
  const auto q = quantize_tensor(DType::AprQ8, x.data(), rows, cols);
  ASSERT_EQ(q.size(), 4u + rows * cols);
  float scale;
  std::memcpy(&scale, q.data(), 4);
  const float m = amax(x.data(), x.size());
  EXPECT_FLOAT_EQ(scale, m / 127.0f);
  const auto y = dequantize(TensorView{DType::AprQ8, {rows, cols}, q});
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_LE(std::fabs(y[i] - x[i]), m / 254.0 * 1.0001) << i;
    EXPECT_EQ(y[i], scale * static_cast<int8_t>(q[4 + i]));  // the independent reading
  }
}

TEST(Quantize, Fp8PerChannelAndPerTensor) {
  const int64_t rows = 11, cols = 19;
  auto x = random_data(rows * cols, Dist::Outliers, 17);
  for (int64_t c = 0; c < cols; ++c) x[3 * cols + c] *= 1e-3f;  // a row of much smaller weights
  for (ScaleGranularity g : {ScaleGranularity::PerChannel, ScaleGranularity::PerTensor}) {
    const bool per_channel = g == ScaleGranularity::PerChannel;
    SCOPED_TRACE(per_channel ? "per channel" : "per tensor");
    const auto q = quantize_tensor(DType::FP8_E4M3, x.data(), rows, cols, g);
    ASSERT_EQ(q.size(), static_cast<size_t>(rows * cols + 4 * (per_channel ? rows : 1)));
    const auto y = dequantize(TensorView{DType::FP8_E4M3, {rows, cols}, q, g});
    for (int64_t r = 0; r < rows; ++r) {
      float scale;
      std::memcpy(&scale, q.data() + rows * cols + 4 * (per_channel ? r : 0), 4);
      const float m = per_channel ? amax(x.data() + r * cols, cols) : amax(x.data(), x.size());
      EXPECT_FLOAT_EQ(scale, m / 448.0f);
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = r * cols + c;
        ASSERT_FALSE(std::isnan(y[i]));
        // e4m3 keeps 3 mantissa bits (half a unit: 1/16 relative); subnormals step by 2^-9 * scale.
        ASSERT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) / 16.0 + scale / 1024.0 + 1e-12) << "row " << r << " col " << c;
        EXPECT_EQ(y[i], scale * fp8e4m3_to_f32(q[i]));
      }
    }
  }
}

TEST(Quantize, RejectsRowsThatAreNotWholeBlocks) {
  std::vector<float> x(100, 1.0f);
  std::vector<uint8_t> out(1000);
  EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), 100, out.data()), Error);
  EXPECT_THROW(quantize_row(DType::AprQ8, x.data(), 32, out.data()), Error);
  EXPECT_THROW(quantize_tensor(DType::Q8_0, x.data(), 2, 50), Error);
}

}  // namespace
}  // namespace aprc
