// The fixture's Q4_K and Q6_K tensors (written by ggml's own quantizers) decode the same through
// formats.cpp / blocks.h as through the independent per-element decoders.
#include <gtest/gtest.h>

#include <cmath>

#include "aprc/model.h"
#include "formats_test_decoders.h"
#include "frontend_test_util.h"

namespace aprc {
namespace {

TEST(FormatsFixture, Q4KAndQ6KMatchTheIndependentDecoders) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  const Model m = load_model(path);
  int checked[2] = {0, 0};
  for (const auto& [name, t] : m.tensors) {
    if (t.dtype != DType::Q4_K && t.dtype != DType::Q6_K) continue;
    SCOPED_TRACE(name);
    const bool q4 = t.dtype == DType::Q4_K;
    const FormatInfo& f = format_info(t.dtype);
    const auto got = dequantize(t.view());
    ASSERT_EQ(got.size(), static_cast<size_t>(t.shape[0] * t.shape[1]));
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const uint8_t* blk = t.bytes.data() + (i / f.block_weights) * f.block_bytes;
      const int e = static_cast<int>(i % f.block_weights);
      const double ref = q4 ? testing::q4_k_element(blk, e) : testing::q6_k_element(blk, e);
      ASSERT_FALSE(std::isnan(got[i])) << i;
      max_ref = std::max(max_ref, std::fabs(ref));
      max_diff = std::max(max_diff, std::fabs(got[i] - ref));
    }
    ASSERT_GT(max_ref, 0.0);
    EXPECT_LE(max_diff / max_ref, 1e-6);
    ++checked[q4 ? 0 : 1];
  }
  // Per the fixture README: 4 layers x 5 Q4_K projections + token_embd, 4 layers x 2 Q6_K.
  EXPECT_EQ(checked[0], 21);
  EXPECT_EQ(checked[1], 8);
}

}  // namespace
}  // namespace aprc
