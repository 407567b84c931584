// convert_weight: fp8 casts of every source encoding checked element by element against the
// dequantized source (the scale rule, e4m3's rounding bound, saturation of the largest element),
// per-tensor scaling across the row chunks it works in, other encodings against quantize_row, and
// the errors for shapes a target cannot hold.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"

namespace aprc {
namespace {

std::vector<float> normal_values(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  // Rows of different magnitudes, so that per-channel and per-tensor scales differ.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = g(rng) * 0.02f * static_cast<float>(1 + r % 7);
  return x;
}

// A tensor of `dtype` holding `values` (quantized by formats/).
std::vector<uint8_t> stored(DType dtype, const std::vector<float>& values, int64_t rows, int64_t cols) {
  return quantize_tensor(dtype, values.data(), rows, cols);
}

float fp8_scale(const uint8_t* bytes, int64_t rows, int64_t cols, ScaleGranularity g, int64_t r) {
  float s;
  std::memcpy(&s, bytes + rows * cols + 4 * (g == ScaleGranularity::PerChannel ? r : 0), 4);
  return s;
}

// Checks an fp8 tensor against the values it was cast from: each scale is max|row| (or max|tensor|)
// / 448, the largest element of each scale group encodes to +-448, and every element is within half
// an e4m3 step of its value (3 mantissa bits; steps of 2^-9 in the subnormal range).
void expect_fp8_of(const std::vector<uint8_t>& fp8, const std::vector<float>& x, int64_t rows, int64_t cols,
                   ScaleGranularity g) {
  ASSERT_EQ(fp8.size(), static_cast<size_t>(rows * cols + 4 * (g == ScaleGranularity::PerChannel ? rows : 1)));
  float tensor_max = 0;
  for (float v : x) tensor_max = std::max(tensor_max, std::fabs(v));
  for (int64_t r = 0; r < rows; ++r) {
    float row_max = 0;
    for (int64_t c = 0; c < cols; ++c) row_max = std::max(row_max, std::fabs(x[r * cols + c]));
    const float scale = fp8_scale(fp8.data(), rows, cols, g, r);
    ASSERT_EQ(scale, (g == ScaleGranularity::PerChannel ? row_max : tensor_max) / 448.0f) << "row " << r;
    for (int64_t c = 0; c < cols; ++c) {
      const double v = x[r * cols + c];
      const double q = fp8e4m3_to_f32(fp8[r * cols + c]);
      ASSERT_FALSE(std::isnan(q)) << "row " << r << " col " << c;
      if (scale == 0) {  // an all-zero scale group
        ASSERT_EQ(v, 0.0);
        ASSERT_EQ(q, 0.0);
        continue;
      }
      const double scaled = std::fabs(v) / scale;
      // Half a step: 2^(e-4) for |scaled| in [2^e, 2^(e+1)), e >= -6; 2^-10 below (subnormals). The
      // 1e-6 covers the rounding of x * (1/scale) in f32.
      const double half_step = scaled >= 0x1p-6 ? std::ldexp(1.0, std::ilogb(scaled) - 4) : 0x1p-10;
      ASSERT_LE(std::fabs(q - v / scale), half_step * (1 + 1e-6) + 1e-6 * scaled) << "row " << r << " col " << c;
      if (std::fabs(v) == (g == ScaleGranularity::PerChannel ? row_max : tensor_max) && v != 0) {
        ASSERT_EQ(std::fabs(q), 448.0) << "row " << r << " col " << c;
      }
    }
  }
}

TEST(WeightConvert, CastsEveryEncodingToFp8PerChannelAndPerTensor) {
  const int64_t rows = 37;
  for (DType source : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q5_0, DType::Q4_K, DType::Q5_K,
                       DType::Q6_K, DType::AprQ4, DType::AprQ8}) {
    const int64_t cols = format_info(source).block_weights == 256 ? 512 : 96;
    const auto bytes = stored(source, normal_values(rows, cols, 3), rows, cols);
    const TensorView view{source, {rows, cols}, bytes};
    const std::vector<float> values = dequantize(view);
    for (ScaleGranularity g : {ScaleGranularity::PerChannel, ScaleGranularity::PerTensor}) {
      SCOPED_TRACE(std::string(dtype_name(source)) + (g == ScaleGranularity::PerChannel ? " per_channel" : " per_tensor"));
      const auto fp8 = convert_weight(view, DType::FP8_E4M3, g, WeightLayout::RowMajor);
      expect_fp8_of(fp8, values, rows, cols, g);
      // The same bytes as quantizing the dequantized values as a whole tensor.
      EXPECT_EQ(fp8, quantize_tensor(DType::FP8_E4M3, values.data(), rows, cols, g));
    }
  }
}

TEST(WeightConvert, PerTensorScaleSpansEveryChunkOfRows) {
  // Rows of 2^19 values are converted 8 at a time: put the largest value in the last chunk.
  const int64_t rows = 19, cols = int64_t{1} << 19;
  std::vector<float> x = normal_values(rows, cols, 5);
  x[(rows - 1) * cols + 12345] = 9.5f;
  const auto bytes = stored(DType::F32, x, rows, cols);
  const TensorView view{DType::F32, {rows, cols}, bytes};
  const auto fp8 = convert_weight(view, DType::FP8_E4M3, ScaleGranularity::PerTensor, WeightLayout::RowMajor);
  EXPECT_EQ(fp8_scale(fp8.data(), rows, cols, ScaleGranularity::PerTensor, 0), 9.5f / 448.0f);
  EXPECT_EQ(fp8, quantize_tensor(DType::FP8_E4M3, x.data(), rows, cols, ScaleGranularity::PerTensor));
}

TEST(WeightConvert, ZeroRowsGetZeroScalesAndCodes) {
  const int64_t rows = 3, cols = 33;
  std::vector<float> x = normal_values(rows, cols, 9);
  std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);
  const auto bytes = stored(DType::F32, x, rows, cols);
  const auto fp8 = convert_weight(TensorView{DType::F32, {rows, cols}, bytes}, DType::FP8_E4M3,
                                  ScaleGranularity::PerChannel, WeightLayout::RowMajor);
  EXPECT_EQ(fp8_scale(fp8.data(), rows, cols, ScaleGranularity::PerChannel, 1), 0.0f);
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(fp8[cols + c], 0);
  expect_fp8_of(fp8, x, rows, cols, ScaleGranularity::PerChannel);
}

TEST(WeightConvert, OtherEncodingsQuantizeTheDequantizedRows) {
  const int64_t rows = 11, cols = 512;
  const auto q4 = stored(DType::Q4_K, normal_values(rows, cols, 4), rows, cols);
  const TensorView view{DType::Q4_K, {rows, cols}, q4};
  const std::vector<float> values = dequantize(view);
  for (DType target : {DType::F32, DType::F16, DType::Q8_0, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(target));
    EXPECT_EQ(convert_weight(view, target, ScaleGranularity::PerChannel, WeightLayout::RowMajor),
              quantize_tensor(target, values.data(), rows, cols));
  }
  // To f32 the values are exactly the dequantized ones.
  const auto f32 = convert_weight(view, DType::F32, ScaleGranularity::PerChannel, WeightLayout::RowMajor);
  EXPECT_EQ(dequantize(TensorView{DType::F32, {rows, cols}, f32}), values);
  // Back from fp8, to f32: the fp8 values.
  const auto fp8 = convert_weight(view, DType::FP8_E4M3, ScaleGranularity::PerTensor, WeightLayout::RowMajor);
  const TensorView fp8_view{DType::FP8_E4M3, {rows, cols}, fp8, ScaleGranularity::PerTensor};
  const auto back = convert_weight(fp8_view, DType::F32, ScaleGranularity::PerChannel, WeightLayout::RowMajor);
  EXPECT_EQ(dequantize(TensorView{DType::F32, {rows, cols}, back}), dequantize(fp8_view));
}

TEST(WeightConvert, VectorsAndUnchangedTypes) {
  const std::vector<float> gamma = normal_values(1, 40, 8);
  const auto bytes = stored(DType::F32, gamma, 1, 40);
  const TensorView view{DType::F32, {40}, bytes};
  EXPECT_TRUE(same_encoding(view, WeightLayout::RowMajor, DType::F32, ScaleGranularity::PerTensor, WeightLayout::RowMajor));
  EXPECT_EQ(convert_weight(view, DType::F32, ScaleGranularity::PerChannel, WeightLayout::RowMajor), bytes);
  const auto f16 = convert_weight(view, DType::F16, ScaleGranularity::PerChannel, WeightLayout::RowMajor);
  ASSERT_EQ(f16.size(), 80u);
  // An fp8 weight is the same encoding only with the same scale granularity.
  const auto fp8 = convert_weight(view, DType::FP8_E4M3, ScaleGranularity::PerChannel, WeightLayout::RowMajor);
  const TensorView fp8_view{DType::FP8_E4M3, {40}, fp8, ScaleGranularity::PerChannel};
  EXPECT_TRUE(same_encoding(fp8_view, WeightLayout::RowMajor, DType::FP8_E4M3, ScaleGranularity::PerChannel,
                            WeightLayout::RowMajor));
  EXPECT_FALSE(same_encoding(fp8_view, WeightLayout::RowMajor, DType::FP8_E4M3, ScaleGranularity::PerTensor,
                             WeightLayout::RowMajor));
}

// A weight in a target layout goes back to row_major byte for byte (unpack, repack's inverse; rows
// not a multiple of cpu_r16's 16 included; the CUDA layouts too, so that aprc verify's reference can
// read a cuda plan's own weights), and on to another encoding from there.
TEST(WeightConvert, PackedLayoutsGoBackToRowMajorLosslessly) {
  const std::pair<WeightLayout, DType> packings[] = {
      {WeightLayout::CpuR16, DType::Q8_0},  {WeightLayout::CpuR16, DType::Q5_0},  {WeightLayout::CpuR16, DType::Q4_K},
      {WeightLayout::CpuR16, DType::Q6_K},  {WeightLayout::CudaQ4K, DType::Q4_K}, {WeightLayout::CudaQ5K, DType::Q5_K},
      {WeightLayout::CudaQ6K, DType::Q6_K}, {WeightLayout::CudaQ8_0, DType::Q8_0}, {WeightLayout::CudaQ5_0, DType::Q5_0}};
  for (const auto& [layout, dt] : packings)
    for (int64_t rows : {1, 16, 37}) {
      SCOPED_TRACE(std::string(layout_name(layout)) + ", " + dtype_name(dt) + ", " + std::to_string(rows) + " rows");
      const int64_t cols = format_info(dt).block_weights * 3;
      const std::vector<float> x = normal_values(rows, cols, static_cast<uint32_t>(rows) * 31 + 5);
      const std::vector<uint8_t> rm = stored(dt, x, rows, cols);
      const std::vector<uint8_t> packed = repack(layout, TensorView{dt, {rows, cols}, rm});
      ASSERT_NE(packed, rm);
      const TensorView view{dt, {rows, cols}, packed};
      EXPECT_EQ(unpack(layout, view), rm);
      EXPECT_EQ(convert_weight(view, dt, ScaleGranularity::PerChannel, WeightLayout::RowMajor, layout), rm);
      const std::vector<uint8_t> f32 =
          convert_weight(view, DType::F32, ScaleGranularity::PerChannel, WeightLayout::RowMajor, layout);
      EXPECT_EQ(f32, convert_weight(TensorView{dt, {rows, cols}, rm}, DType::F32, ScaleGranularity::PerChannel,
                                    WeightLayout::RowMajor));
    }
}

TEST(WeightConvert, RefusesShapesTheTargetCannotHold) {
  const auto bytes = stored(DType::F32, normal_values(2, 96, 1), 2, 96);
  const TensorView view{DType::F32, {2, 96}, bytes};
  try {
    convert_weight(view, DType::Q4_K, ScaleGranularity::PerChannel, WeightLayout::RowMajor);
    FAIL() << "a row of 96 cannot be q4_k";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("f32 [2, 96] weight to q4_k [2, 96]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  const TensorView truncated{DType::F32, {2, 96}, std::span<const uint8_t>(bytes).first(100)};
  EXPECT_THROW(convert_weight(truncated, DType::FP8_E4M3, ScaleGranularity::PerChannel, WeightLayout::RowMajor), Error);
  EXPECT_THROW(convert_weight(view, DType::I32, ScaleGranularity::PerChannel, WeightLayout::RowMajor), Error);
}

}  // namespace
}  // namespace aprc
