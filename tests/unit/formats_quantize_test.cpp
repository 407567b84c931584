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
      // q4_k: half a step of the sub-block's range over 15 levels, plus the 6-bit quantization of
      // the sub-block scale and min (at most 1/63 of the super-block's largest magnitude, halved).
      {DType::Q4_K, [](const float* b, int i, float) { return range32(b, i) / 30.0 + amax(b, 256) / 100.0; }, 0.1,
       testing::q4_k_element},
      {DType::Q5_K, [](const float* b, int i, float) { return range32(b, i) / 62.0 + amax(b, 256) / 100.0; }, 0.05,
       testing::q5_k_element},
      // q6_k: one step of the 16-weight sub-block (amax/32), plus the int8 scale's rounding.
      {DType::Q6_K,
       [](const float* b, int i, float) { return amax(b + (i / 16) * 16, 16) / 32.0 + amax(b, 256) / 2000.0; }, 0.025,
       testing::q6_k_element},
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
