// The CUDA weight layouts: repacking keeps every value bit for bit, and the planes hold what
// formats/layouts.h says they hold (checked by decoders written from that documentation).
#include <gtest/gtest.h>

#include <cstring>

#include "aprc/formats/blocks.h"
#include "aprc/formats/layouts.h"
#include "cuda_test_support.h"

namespace aprc::cuda::test {
namespace {

struct LayoutCase {
  WeightLayout layout;
  DType dtype;
  int64_t rows, cols;
};

class CudaLayoutTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(CudaLayoutTest, RepackKeepsEveryValue) {
  const LayoutCase c = GetParam();
  Rng rng(static_cast<uint64_t>(c.rows * 1000 + c.cols));
  const std::vector<uint8_t> rm = random_weight(c.dtype, c.rows, c.cols, rng);
  const TensorView rmv{c.dtype, {c.rows, c.cols}, rm};
  ASSERT_TRUE(layout_supports(c.layout, c.dtype));
  EXPECT_FALSE(layout_supports(c.layout, DType::F32));
  EXPECT_EQ(layout_from_name(layout_name(c.layout)), c.layout);
  const std::vector<uint8_t> packed = repack(c.layout, rmv);
  EXPECT_EQ(packed.size(), rm.size());
  EXPECT_EQ(layout_bytes(c.layout, c.dtype, c.rows, c.cols), rm.size());
  // planes tile the tensor in order
  uint64_t at = 0;
  for (const auto& [off, bytes] : layout_planes(c.layout, c.dtype, c.rows, c.cols)) {
    EXPECT_EQ(off, at);
    at += bytes;
  }
  EXPECT_EQ(at, rm.size());
  EXPECT_NE(packed, rm);  // something moved
  const TensorView pv{c.dtype, {c.rows, c.cols}, packed};
  const std::vector<float> want = dequantize(rmv);
  std::vector<float> got(want.size());
  dequantize_rows_in_layout(c.layout, pv, 0, c.rows, got.data());
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4));
  // a row range in the middle
  std::vector<float> part(static_cast<size_t>(2 * c.cols));
  dequantize_rows_in_layout(c.layout, pv, c.rows / 2, c.rows / 2 + 2, part.data());
  EXPECT_EQ(0, std::memcmp(part.data(), want.data() + (c.rows / 2) * c.cols, part.size() * 4));
}

INSTANTIATE_TEST_SUITE_P(Layouts, CudaLayoutTest,
                         ::testing::Values(LayoutCase{WeightLayout::CudaQ4K, DType::Q4_K, 7, 768},
                                           LayoutCase{WeightLayout::CudaQ5K, DType::Q5_K, 5, 512},
                                           LayoutCase{WeightLayout::CudaQ6K, DType::Q6_K, 9, 256},
                                           LayoutCase{WeightLayout::CudaQ8_0, DType::Q8_0, 11, 96},
                                           LayoutCase{WeightLayout::CudaQ5_0, DType::Q5_0, 13, 160}));

uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Group order (layouts.h): weight i of a chunk is element j of group g.
void group_of(int i, int& g, int& j) {
  const int w = i / 8, r = i % 8;
  g = 2 * w + r % 2;
  j = r / 2;
}

// Q4_K planes per the documentation: quants (chunk j of a block = sub-block j, weight 2i in the low
// nibble of byte i), then the 16-byte headers.
TEST(CudaLayout, Q4KPlanesAsDocumented) {
  Rng rng(5);
  const int64_t rows = 3, cols = 512, nb = cols / 256;
  const auto rm = random_weight(DType::Q4_K, rows, cols, rng);
  const TensorView rmv{DType::Q4_K, {rows, cols}, rm};
  const auto packed = repack(WeightLayout::CudaQ4K, rmv);
  const auto want = dequantize(rmv);
  const uint8_t* quants = packed.data();
  const uint8_t* headers = packed.data() + rows * nb * 128;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t b = k / 256, j = (k % 256) / 32, i = k % 32;
      const uint8_t* h = headers + (r * nb + b) * 16;
      uint16_t d, dmin;
      std::memcpy(&d, h, 2);
      std::memcpy(&dmin, h + 2, 2);
      uint8_t sc, mn;
      aprc_k_scale_min(static_cast<int>(j), h + 4, &sc, &mn);
      const uint8_t byte = quants[((r * nb + b) * 8 + j) * 16 + i / 2];
      const int q = (i % 2) ? byte >> 4 : byte & 15;
      const float v = aprc_f16_to_f32(d) * sc * q - aprc_f16_to_f32(dmin) * mn;
      ASSERT_EQ(v, want[r * cols + k]) << "row " << r << " col " << k;
    }
}

// Q6_K planes: low nibbles, bit-sliced 2-bit high parts (two u32 a sub-block), int8 scales, f16 d.
TEST(CudaLayout, Q6KPlanesAsDocumented) {
  Rng rng(6);
  const int64_t rows = 5, cols = 256, nb = cols / 256, blocks = rows * nb;
  const auto rm = random_weight(DType::Q6_K, rows, cols, rng);
  const TensorView rmv{DType::Q6_K, {rows, cols}, rm};
  const auto packed = repack(WeightLayout::CudaQ6K, rmv);
  const auto want = dequantize(rmv);
  const uint8_t* ql = packed.data();
  const uint8_t* qh = ql + blocks * 128;
  const uint8_t* sc = qh + blocks * 64;
  const uint8_t* dd = sc + blocks * 16;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t b = r * nb + k / 256, c = (k % 256) / 32, i = k % 32;
      const uint8_t byte = ql[(b * 8 + c) * 16 + i / 2];
      int g, j;
      group_of(static_cast<int>(i), g, j);
      const uint32_t hb = u32(qh + (b * 8 + c) * 8 + 4 * (g / 4));
      const int q = (((i % 2) ? byte >> 4 : byte & 15) | int((hb >> (8 * j + 2 * (g % 4))) & 3) << 4) - 32;
      uint16_t d;
      std::memcpy(&d, dd + b * 2, 2);
      const float v = aprc_f16_to_f32(d) * static_cast<float>(static_cast<int8_t>(sc[b * 16 + (k % 256) / 16])) * q;
      ASSERT_EQ(v, want[r * cols + k]) << "row " << r << " col " << k;
    }
}

// Q8_0 planes: the 32 quants of a block in group order, then f16 d.
TEST(CudaLayout, Q80PlanesAsDocumented) {
  Rng rng(8);
  const int64_t rows = 3, cols = 64, blocks = rows * cols / 32;
  const auto rm = random_weight(DType::Q8_0, rows, cols, rng);
  const TensorView rmv{DType::Q8_0, {rows, cols}, rm};
  const auto packed = repack(WeightLayout::CudaQ8_0, rmv);
  const auto want = dequantize(rmv);
  for (int64_t b = 0; b < blocks; ++b)
    for (int i = 0; i < 32; ++i) {
      int g, j;
      group_of(i, g, j);
      uint16_t d;
      std::memcpy(&d, packed.data() + blocks * 32 + b * 2, 2);
      ASSERT_EQ(aprc_f16_to_f32(d) * static_cast<int8_t>(packed[b * 32 + 4 * g + j]), want[b * 32 + i]);
    }
}

// Q5_0 planes: nibbles in natural order, a bit-sliced u32 of 5th bits, f16 d.
TEST(CudaLayout, Q50PlanesAsDocumented) {
  Rng rng(7);
  const int64_t rows = 3, cols = 96, blocks = rows * cols / 32;
  const auto rm = random_weight(DType::Q5_0, rows, cols, rng);
  const TensorView rmv{DType::Q5_0, {rows, cols}, rm};
  const auto packed = repack(WeightLayout::CudaQ5_0, rmv);
  const auto want = dequantize(rmv);
  for (int64_t b = 0; b < blocks; ++b)
    for (int i = 0; i < 32; ++i) {
      const uint8_t byte = packed[b * 16 + i / 2];
      const uint32_t hb = u32(packed.data() + blocks * 16 + b * 4);
      uint16_t d;
      std::memcpy(&d, packed.data() + blocks * 20 + b * 2, 2);
      int g, j;
      group_of(i, g, j);
      const int q = (((i % 2) ? byte >> 4 : byte & 15) | int((hb >> (8 * j + g)) & 1) << 4) - 16;
      ASSERT_EQ(aprc_f16_to_f32(d) * q, want[b * 32 + i]);
    }
}

}  // namespace
}  // namespace aprc::cuda::test
