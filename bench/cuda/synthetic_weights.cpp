#include "synthetic_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"

namespace aprc::cuda::synthetic {

uint16_t f32_to_f16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a < 0x38800000u) {  // f16 subnormal: round a * 2^24 to an integer
    float x;
    std::memcpy(&x, &a, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(x * 16777216.0f)));
  }
  uint32_t h = (a >> 13) - (112u << 10);
  const uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

namespace {

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float unit() { return static_cast<float>((next() >> 40) * (1.0 / 16777216.0)); }  // [0, 1)
};

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// fp8e4m3: row r holds values in [-m_r, m_r) with m_r in [0.25, 1), cast with scale max|row| / 448
// (or max|tensor| / 448), then the f32 scales (formats.h).
std::vector<uint8_t> random_fp8(int64_t rows, int64_t cols, ScaleGranularity g, SplitMix& rng) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float m = 0.25f + 0.75f * rng.unit();
    for (int64_t c = 0; c < cols; ++c) v[r * cols + c] = m * (2 * rng.unit() - 1);
  }
  const bool per_channel = g == ScaleGranularity::PerChannel;
  std::vector<float> scales(static_cast<size_t>(per_channel ? rows : 1), 0.f);
  for (int64_t i = 0; i < rows * cols; ++i) {
    float& s = scales[per_channel ? i / cols : 0];
    s = std::max(s, std::fabs(v[i]));
  }
  for (float& s : scales) s /= 448.f;
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols) + 4 * scales.size());
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float s = scales[per_channel ? i / cols : 0];
    out[i] = aprc_f32_to_fp8e4m3(v[i] * (1.f / s));
  }
  std::memcpy(out.data() + rows * cols, scales.data(), 4 * scales.size());
  return out;
}

}  // namespace

std::vector<uint8_t> random_row_major(DType dtype, int64_t rows, int64_t cols, uint64_t seed, ScaleGranularity scales) {
  const int64_t shape[2] = {rows, cols};
  const auto size = tensor_bytes(dtype, shape, scales);
  if (!size) throw_internal(std::string("random_row_major: bad shape for ") + dtype_name(dtype));
  SplitMix rng{seed};
  if (dtype == DType::FP8_E4M3) return random_fp8(rows, cols, scales, rng);
  std::vector<uint8_t> out(*size);
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const uint64_t v = rng.next();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < out.size(); ++i) out[i] = static_cast<uint8_t>(rng.next());
  const FormatInfo& f = format_info(dtype);
  const int64_t blocks = rows * cols / f.block_weights;
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* p = out.data() + b * f.block_bytes;
    auto scale = [&](float lo, float hi) { return f32_to_f16_bits(lo + (hi - lo) * rng.unit()); };
    switch (dtype) {
      case DType::Q8_0: put16(p, scale(0.002f, 0.01f)); break;
      case DType::Q5_0: put16(p, scale(0.01f, 0.05f)); break;
      case DType::Q4_K:
      case DType::Q5_K:
        put16(p, scale(0.0005f, 0.003f));
        put16(p + 2, scale(0.0005f, 0.004f));
        break;
      case DType::Q6_K: put16(p + 208, scale(0.0002f, 0.001f)); break;
      case DType::F32: {
        const float v = 2 * rng.unit() - 1;
        std::memcpy(p, &v, 4);
        break;
      }
      case DType::F16: put16(p, f32_to_f16_bits(2 * rng.unit() - 1)); break;
      case DType::BF16: put16(p, f32_to_bf16_bits(2 * rng.unit() - 1)); break;
      default: throw_internal(std::string("random_row_major: no generator for ") + dtype_name(dtype));
    }
  }
  return out;
}

}  // namespace aprc::cuda::synthetic
