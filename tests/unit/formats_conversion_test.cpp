// f32 -> f16 / bf16 / fp8 e4m3: exact round trips of every code, and round-to-nearest-even checked
// against the decoded neighbours of the result (an independent criterion: no other code is closer,
// and ties go to the even code).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "aprc/formats/blocks.h"
#include "aprc/formats/formats.h"

namespace aprc {
namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Every 16-bit code decodes and encodes back to itself (NaNs stay NaN).
void expect_every_code_round_trips(float (*decode)(uint16_t), uint16_t (*encode)(float)) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = decode(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(decode(encode(f)))) << h;
      continue;
    }
    ASSERT_EQ(encode(f), h) << "code 0x" << std::hex << h;
  }
}

TEST(Conversions, F16RoundTripsEveryCode) { expect_every_code_round_trips(f16_to_f32, f32_to_f16); }
TEST(Conversions, Bf16RoundTripsEveryCode) { expect_every_code_round_trips(bf16_to_f32, f32_to_bf16); }

TEST(Conversions, Fp8RoundTripsEveryCode) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float f = fp8e4m3_to_f32(static_cast<uint8_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(b == 0x7f || b == 0xff);
      EXPECT_TRUE(std::isnan(fp8e4m3_to_f32(f32_to_fp8e4m3(f))));
      continue;
    }
    ASSERT_EQ(f32_to_fp8e4m3(f), b) << "fp8 0x" << std::hex << b;
  }
  EXPECT_EQ(fp8e4m3_to_f32(0x7e), 448.0f);
}

// Checks that `code` is the nearest of all finite codes (by brute force over `all`), ties to even.
template <class Decode>
void expect_nearest_even(float x, uint32_t code, uint32_t n_codes, Decode decode) {
  const double got = decode(code);
  const double err = std::fabs(static_cast<double>(x) - got);
  for (uint32_t c = 0; c < n_codes; ++c) {
    const double v = decode(c);
    if (std::isnan(v) || std::isinf(v)) continue;
    const double e = std::fabs(static_cast<double>(x) - v);
    ASSERT_LE(err, e) << "x=" << x << " got code " << code << " (" << got << "), but code " << c << " (" << v
                      << ") is closer";
    if (e == err && v != got) {
      ASSERT_EQ(code % 2, 0u) << "tie at x=" << x << " must go to the even code";
    }
  }
}

TEST(Conversions, Fp8RoundsToNearestEvenAndSaturates) {
  std::mt19937 rng(7);
  auto decode = [](uint32_t c) { return static_cast<double>(fp8e4m3_to_f32(static_cast<uint8_t>(c))); };
  std::uniform_real_distribution<float> wide(-460.0f, 460.0f), narrow(-0.03f, 0.03f);
  for (int k = 0; k < 3000; ++k) {
    const float x = k % 2 ? wide(rng) : narrow(rng);
    expect_nearest_even(x, f32_to_fp8e4m3(x), 256, decode);
  }
  // Midpoints between neighbouring codes are ties.
  for (uint32_t b = 0; b < 0x7e; ++b) {
    const float mid = 0.5f * (fp8e4m3_to_f32(static_cast<uint8_t>(b)) + fp8e4m3_to_f32(static_cast<uint8_t>(b + 1)));
    EXPECT_EQ(f32_to_fp8e4m3(mid), b % 2 == 0 ? b : b + 1) << "midpoint after code " << b;
  }
  EXPECT_EQ(f32_to_fp8e4m3(1e6f), 0x7e);
  EXPECT_EQ(f32_to_fp8e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(f32_to_fp8e4m3(464.0f), 0x7e);
}

// The bit-level encoder (blocks.h, shared with the CUDA fallback) on a sweep of f32 bit patterns
// through every exponent e4m3 can reach and beyond: nearest code, ties to even, saturation.
TEST(Conversions, Fp8EncoderSweepsEveryExponent) {
  auto decode = [](uint32_t c) { return static_cast<double>(fp8e4m3_to_f32(static_cast<uint8_t>(c))); };
  for (uint32_t bits = 0x30000000u; bits < 0x44000000u; bits += 16381u) {  // 2^-31 .. 512
    for (const uint32_t sign : {0u, 0x80000000u}) {
      const float x = bits_to_float(bits | sign);
      const uint8_t code = aprc_f32_to_fp8e4m3(x);
      ASSERT_EQ(code, f32_to_fp8e4m3(x));
      if (std::fabs(x) >= 448.0f) {
        ASSERT_EQ(code & 0x7f, 0x7e) << x;
        continue;
      }
      expect_nearest_even(x, code, 256, decode);
    }
  }
  EXPECT_EQ(aprc_f32_to_fp8e4m3(INFINITY), 0x7e);
  EXPECT_EQ(aprc_f32_to_fp8e4m3(std::nanf("")) & 0x7f, 0x7f);
}

// A per-token fp8 activation's two terms (aprc_fp8e4m3_hi_lo): within 2^-8 of the value, or 2^-10
// (half of lo's subnormal quantum) near zero, over every exponent a scaled activation takes; and
// continuous where hi jumps: just below and just above the midpoint of every two neighbouring
// positive codes (where hi moves by a whole step), the sums differ by 2^-8 of the value, or by lo's
// quantum 2^-9 among the subnormals, where hi's step is that quantum too.
TEST(Conversions, Fp8TwoTermsAreWithinTwoToTheMinus8AndContinuous) {
  auto bound = [](double v) { return std::ldexp(std::fabs(v), -8) + std::ldexp(1.0, -10); };
  auto jump = [](double v) { return std::ldexp(std::fabs(v), -8) + std::ldexp(1.0, -9); };
  for (uint32_t bits = 0x30000000u; bits <= 0x43e00000u; bits += 4093u) {  // 2^-31 .. 448
    for (const uint32_t sign : {0u, 0x80000000u}) {
      const float v = bits_to_float(bits | sign);
      ASSERT_LE(std::fabs(double(aprc_fp8e4m3_hi_lo(v)) - v), bound(v)) << v;
      ASSERT_EQ(aprc_fp8e4m3_hi_lo(v), fp8e4m3_hi_lo(v));
    }
  }
  for (uint8_t c = 0; c < 0x7e; ++c) {
    const float mid = 0.5f * (fp8e4m3_to_f32(c) + fp8e4m3_to_f32(static_cast<uint8_t>(c + 1)));
    const float below = std::nextafter(mid, 0.0f), above = std::nextafter(mid, 448.0f);
    ASSERT_NE(f32_to_fp8e4m3(below), f32_to_fp8e4m3(above)) << "code " << int(c);  // hi jumps here
    ASSERT_LE(std::fabs(double(aprc_fp8e4m3_hi_lo(above)) - aprc_fp8e4m3_hi_lo(below)), jump(mid)) << "code " << int(c);
  }
  EXPECT_TRUE(std::isnan(aprc_fp8e4m3_hi_lo(std::nanf(""))));
}

// For 16-bit formats, brute force over 65536 codes is too slow per sample; compare with the
// neighbouring codes instead (the decoded values are monotonic in the code for each sign).
template <class Decode>
void expect_nearest_among_neighbours(float x, uint16_t code, Decode decode) {
  const double got = decode(code);
  ASSERT_FALSE(std::isnan(got)) << x;
  if (std::isinf(got)) {
    // Only values at least half a unit beyond the largest finite code may round to infinity.
    const uint16_t largest = static_cast<uint16_t>((code & 0x8000) | ((code & 0x7fff) - 1));
    const double max = std::fabs(decode(largest)), below = std::fabs(decode(static_cast<uint16_t>(largest - 1)));
    ASSERT_GE(std::fabs(static_cast<double>(x)), max + (max - below) / 2) << x;
    return;
  }
  const double err = std::fabs(static_cast<double>(x) - got);
  for (int delta : {-1, 1}) {
    const int c = code + delta;
    if ((c & 0x7fff) == 0x7fff || c < 0 || c > 0xffff || ((c ^ code) & 0x8000)) continue;
    const double v = decode(static_cast<uint16_t>(c));
    if (std::isnan(v) || std::isinf(v)) continue;
    const double e = std::fabs(static_cast<double>(x) - v);
    ASSERT_LE(err, e) << "x=" << x << " code " << code << " neighbour " << c;
    if (e == err) {
      ASSERT_EQ(code % 2, 0) << "tie at x=" << x;
    }
  }
  // Across zero: the code of the other sign's smallest magnitude is the same distance as +-0.
}

TEST(Conversions, F16AndBf16RoundToNearestEven) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> any_bits;
  auto f16 = [](uint16_t c) { return static_cast<double>(f16_to_f32(c)); };
  auto bf16 = [](uint16_t c) { return static_cast<double>(bf16_to_f32(c)); };
  int checked = 0;
  for (int k = 0; k < 200000; ++k) {
    const float x = bits_to_float(any_bits(rng));
    if (std::isnan(x)) continue;
    expect_nearest_among_neighbours(x, f32_to_bf16(x), bf16);
    if (std::fabs(x) < 65504.0f) {
      expect_nearest_among_neighbours(x, f32_to_f16(x), f16);
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
  // Values in the f16 range, subnormals included.
  std::uniform_real_distribution<float> mid(-70000.0f, 70000.0f), tiny(-1e-4f, 1e-4f);
  for (int k = 0; k < 100000; ++k) {
    const float x = k % 2 ? mid(rng) : tiny(rng);
    if (std::fabs(x) < 65504.0f) {
      expect_nearest_among_neighbours(x, f32_to_f16(x), f16);
    } else {
      EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(x))) || std::fabs(f16_to_f32(f32_to_f16(x))) == 65504.0f);
    }
  }
  // Ties between neighbouring halves go to the even one, in the normal and the subnormal range.
  for (uint16_t h : {uint16_t{0x0001}, uint16_t{0x0002}, uint16_t{0x03ff}, uint16_t{0x3c00}, uint16_t{0x3c01},
                     uint16_t{0x7bfe}}) {
    const float mid = 0.5f * (f16_to_f32(h) + f16_to_f32(static_cast<uint16_t>(h + 1)));
    EXPECT_EQ(f32_to_f16(mid), h % 2 == 0 ? h : h + 1) << h;
  }
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the tie above the largest half rounds to infinity
  EXPECT_EQ(f32_to_f16(1e-9f), 0x0000);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f808000u)), 0x3f80);  // tie to even (down)
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f818000u)), 0x3f82);  // tie to even (up)
}

}  // namespace
}  // namespace aprc
