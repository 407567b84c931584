// Every quantized block format aprc reads, defined once.
//
// This header is plain enough for three compilers: host C++ (g++, clang), NVRTC (the CUDA code
// generator embeds this very file into every generated source), and nvcc. It holds the block
// structs, their sizes, and per-block dequantization written as scalar code that a reader can check
// against the format description in docs/formats (shared/docs/formats.md).
//
// Weight matrices are [out, in] row-major; each row is a whole number of blocks.
#pragma once

#if defined(__CUDACC_RTC__)
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
#define APRC_HD __device__ __forceinline__
#elif defined(__CUDACC__)
#include <stdint.h>
#define APRC_HD __host__ __device__ __forceinline__
#else
#include <stdint.h>
#include <string.h>
#define APRC_HD static inline
#endif

// ---------------------------------------------------------------------------------------------
// Scalar conversions (exact, subnormals included). Bit-level so host and device agree bit for bit.
// ---------------------------------------------------------------------------------------------

APRC_HD float aprc_bits_to_f32(uint32_t u) {
#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

APRC_HD uint32_t aprc_f32_to_bits(float f) {
#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}

// IEEE binary16 -> binary32.
APRC_HD float aprc_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in f32
    float v = (float)man * 5.9604644775390625e-08f;
    return (sign != 0) ? -v : v;
  }
  if (exp == 31) return aprc_bits_to_f32(sign | 0x7f800000u | (man << 13));
  return aprc_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// bfloat16 -> binary32: the high half of an f32.
APRC_HD float aprc_bf16_to_f32(uint16_t h) { return aprc_bits_to_f32((uint32_t)h << 16); }

// OCP FP8 E4M3 ("e4m3fn": bias 7, no infinities, S.1111.111 is NaN, largest finite 448) -> f32.
APRC_HD float aprc_fp8e4m3_to_f32(uint8_t b) {
  uint32_t sign = (uint32_t)(b & 0x80u) << 24;
  uint32_t exp = (b >> 3) & 0xfu;
  uint32_t man = b & 0x7u;
  if (exp == 15 && man == 7) return aprc_bits_to_f32(sign | 0x7fc00000u);
  if (exp == 0) {
    float v = (float)man * 0.001953125f;  // man * 2^-9
    return sign ? -v : v;
  }
  return aprc_bits_to_f32(sign | ((exp + 120u) << 23) | (man << 20));
}

// f32 -> OCP FP8 E4M3: round to nearest even, saturating to +-448 (infinities included), NaN to
// NaN (S.1111.111): what cvt.rn.satfinite.e4m3x2.f32 computes, written with integer operations so
// that the host encoder, the CUDA fallback and the emulator are this one function.
APRC_HD uint8_t aprc_f32_to_fp8e4m3(float f) {
  const uint32_t x = aprc_f32_to_bits(f);
  const uint8_t sign = (uint8_t)((x >> 24) & 0x80u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7fu;   // NaN
  if (a >= 0x43e00000u) return sign | 0x7eu;  // |f| >= 448: the largest finite code
  const int exp = (int)(a >> 23) - 127;
  if (exp < -6) {
    // Subnormal e4m3: |f| / 2^-9 rounded to an integer (8 is the smallest normal, code 8 too).
    if (exp < -10) return sign;  // below 2^-10, half the smallest subnormal
    const uint32_t mant = (a & 0x7fffffu) | 0x800000u;  // |f| = mant * 2^(exp - 23)
    const int shift = 14 - exp;                        // 21..24 bits below the 2^-9 unit
    uint32_t q = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1u))) ++q;
    return sign | (uint8_t)q;
  }
  // Normal: keep the exponent and 3 mantissa bits; a carry out of the mantissa bumps the exponent.
  uint32_t m = a >> 20;
  const uint32_t rest = a & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (m & 1u))) ++m;
  const uint32_t code = m - (120u << 3);  // exponent bias 127 -> 7
  return sign | (uint8_t)(code > 0x7eu ? 0x7eu : code);
}

// A per-token fp8 activation (aprc.fp8_per_token_activations): v, already times its token's
// 1 / scale (|v| <= 448), becomes two e4m3 terms, hi = e4m3(v) and lo = e4m3(v - hi) (v - hi is exact
// in f32), and a product with it is the sum of two FP8 products. Their sum is within 2^-8 |v| (or
// 2^-10, half of lo's subnormal quantum) where hi alone is within 2^-4 |v|; and it is continuous
// where hi jumps (up to lo's quantum 2^-9 among the subnormals): an engine whose v differs by an ulp
// at hi's rounding boundary gets the same sum within 2^-8 |v|, not e4m3's step. The two terms' value:
APRC_HD float aprc_fp8e4m3_hi_lo(float v) {
  const float hi = aprc_fp8e4m3_to_f32(aprc_f32_to_fp8e4m3(v));
  return hi + aprc_fp8e4m3_to_f32(aprc_f32_to_fp8e4m3(v - hi));
}

// ---------------------------------------------------------------------------------------------
// Block formats. Each: the struct, its math and bits per weight, a size assertion, and the
// dequantization of one block into `out` (block-size floats).
// ---------------------------------------------------------------------------------------------

// Q8_0: 32 weights, one f16 scale.
//   w[i] = d * qs[i]
//   8.5 bits per weight (34 bytes / 32)
#define APRC_QK8_0 32
typedef struct {
  uint16_t d;
  int8_t qs[APRC_QK8_0];
} aprc_block_q8_0;
static_assert(sizeof(aprc_block_q8_0) == 34, "q8_0 block is 34 bytes");

APRC_HD void aprc_dequant_q8_0(const aprc_block_q8_0* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  for (int i = 0; i < APRC_QK8_0; ++i) out[i] = d * (float)b->qs[i];
}

// Q5_0: 32 weights, one f16 scale; 4 low bits in nibbles, the 5th bit in a 32-bit mask.
//   w[j] = d * ((qs[j] & 15 | bit j of qh << 4) - 16), w[j+16] = d * ((qs[j] >> 4 | bit j+16 << 4) - 16)
//   5.5 bits per weight (22 bytes / 32)
#define APRC_QK5_0 32
typedef struct {
  uint16_t d;
  uint8_t qh[4];  // little-endian u32, stored as bytes so the block needs no 4-byte alignment
  uint8_t qs[APRC_QK5_0 / 2];
} aprc_block_q5_0;
static_assert(sizeof(aprc_block_q5_0) == 22, "q5_0 block is 22 bytes");

APRC_HD void aprc_dequant_q5_0(const aprc_block_q5_0* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  const uint32_t qh = (uint32_t)b->qh[0] | ((uint32_t)b->qh[1] << 8) | ((uint32_t)b->qh[2] << 16) |
                      ((uint32_t)b->qh[3] << 24);
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
    const int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    out[j] = d * (float)(lo - 16);
    out[j + 16] = d * (float)(hi - 16);
  }
}

// K-quants share a super-block of 256 weights in 8 sub-blocks of 32.
#define APRC_QK_K 256
#define APRC_K_SCALE_SIZE 12

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block.
APRC_HD void aprc_k_scale_min(int j, const uint8_t* s, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    *min = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K: 256 weights; f16 d and dmin; 8 sub-blocks of 32 with 6-bit scale and min; 4-bit q.
//   w = d * scale[j] * q - dmin * min[j]; chunk c (64 weights) = low nibbles of qs[32c..32c+32]
//   (sub-block 2c) then high nibbles (sub-block 2c+1). 4.5 bits per weight (144 bytes / 256)
typedef struct {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[APRC_K_SCALE_SIZE];
  uint8_t qs[APRC_QK_K / 2];
} aprc_block_q4_k;
static_assert(sizeof(aprc_block_q4_k) == 144, "q4_k block is 144 bytes");

APRC_HD void aprc_dequant_q4_k(const aprc_block_q4_k* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  const float dmin = aprc_f16_to_f32(b->dmin);
  for (int c = 0; c < 4; ++c) {
    uint8_t sc, m;
    aprc_k_scale_min(2 * c, b->scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    aprc_k_scale_min(2 * c + 1, b->scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    const uint8_t* q = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      out[64 * c + l] = d1 * (float)(q[l] & 0x0f) - m1;
      out[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: as Q4_K with a 5th bit per weight in qh: bit (2c) of qh[l] for the low-nibble weight l of
//   chunk c, bit (2c+1) for the high-nibble one. w = d * scale[j] * q - dmin * min[j], q in 0..31.
//   5.5 bits per weight (176 bytes / 256)
typedef struct {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[APRC_K_SCALE_SIZE];
  uint8_t qh[APRC_QK_K / 8];
  uint8_t qs[APRC_QK_K / 2];
} aprc_block_q5_k;
static_assert(sizeof(aprc_block_q5_k) == 176, "q5_k block is 176 bytes");

APRC_HD void aprc_dequant_q5_k(const aprc_block_q5_k* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  const float dmin = aprc_f16_to_f32(b->dmin);
  for (int c = 0; c < 4; ++c) {
    uint8_t sc, m;
    aprc_k_scale_min(2 * c, b->scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    aprc_k_scale_min(2 * c + 1, b->scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    const uint8_t* q = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[l] & 0x0f) | (((b->qh[l] >> (2 * c)) & 1) << 4);
      const int hi = (q[l] >> 4) | (((b->qh[l] >> (2 * c + 1)) & 1) << 4);
      out[64 * c + l] = d1 * (float)lo - m1;
      out[64 * c + 32 + l] = d2 * (float)hi - m2;
    }
  }
}

// Q6_K: 256 weights; f16 d; 16 int8 scales (one per 16 weights); 6-bit q = ql (4 bits) | qh (2 bits).
//   w = d * scales[i / 16] * (q - 32); for half h (128 weights) and l < 32, the weights l, l+32,
//   l+64, l+96 take the low/low/high/high nibbles of ql[64h+l], ql[64h+l+32] and bits 0-1, 2-3, 4-5,
//   6-7 of qh[32h+l]. 6.5625 bits per weight (210 bytes / 256)
typedef struct {
  uint8_t ql[APRC_QK_K / 2];
  uint8_t qh[APRC_QK_K / 4];
  int8_t scales[APRC_QK_K / 16];
  uint16_t d;
} aprc_block_q6_k;
static_assert(sizeof(aprc_block_q6_k) == 210, "q6_k block is 210 bytes");

APRC_HD void aprc_dequant_q6_k(const aprc_block_q6_k* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b->ql + 64 * h;
    const uint8_t* qh = b->qh + 32 * h;
    const int8_t* sc = b->scales + 8 * h;
    float* y = out + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = (int)((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * (float)sc[is + 0] * (float)q1;
      y[l + 32] = d * (float)sc[is + 2] * (float)q2;
      y[l + 64] = d * (float)sc[is + 4] * (float)q3;
      y[l + 96] = d * (float)sc[is + 6] * (float)q4;
    }
  }
}

// AprQ4 (APR dtype 128): 32 weights, one f16 scale, nibbles with the low nibble the even element.
//   w[2i] = d * ((qs[i] & 15) - 8), w[2i+1] = d * ((qs[i] >> 4) - 8)
//   4.5 bits per weight (18 bytes / 32)
#define APRC_QK_APRQ4 32
typedef struct {
  uint16_t d;
  uint8_t qs[APRC_QK_APRQ4 / 2];
} aprc_block_aprq4;
static_assert(sizeof(aprc_block_aprq4) == 18, "aprq4 block is 18 bytes");

APRC_HD void aprc_dequant_aprq4(const aprc_block_aprq4* b, float* out) {
  const float d = aprc_f16_to_f32(b->d);
  for (int i = 0; i < APRC_QK_APRQ4 / 2; ++i) {
    out[2 * i] = d * (float)((b->qs[i] & 0x0f) - 8);
    out[2 * i + 1] = d * (float)((b->qs[i] >> 4) - 8);
  }
}

// AprQ8 (APR dtype 129) is not blocked: one f32 scale for the whole tensor, then one int8 per
//   weight: w[i] = scale * q[i]. 8 bits per weight (plus 4 bytes a tensor).
//
// FP8 E4M3 weights with scales (aprc's own, produced by the fp8 casting pass): the [out, in] e4m3
//   bytes row-major, then one f32 scale per row (per_channel) or a single f32 (per_tensor).
//   w[r][c] = scale[r or 0] * e4m3(q[r][c]). 8 bits per weight (plus 32 bits a row).
