// Straightforward per-element decoders written from the format descriptions in
// shared/docs/formats.md, independent of blocks.h: element i of a block, computed from its bytes
// alone. The format tests check blocks.h (through dequantize) against these.
#pragma once

#include <cstdint>
#include <cstring>

namespace aprc::testing {

// IEEE half -> double, from the definition.
inline double half_value(const uint8_t* p) {
  const unsigned h = p[0] | (p[1] << 8);
  const int sign = (h >> 15) ? -1 : 1;
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  if (e == 0) return sign * m * (1.0 / (1 << 24));
  return sign * (1.0 + m / 1024.0) * static_cast<double>(1u << e) / 32768.0;  // 2^(e-15)
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block, from 12 packed bytes s:
// for j < 4 the low 6 bits of s[j] and s[j+4]; for j >= 4 the nibbles of s[j+4] with the top two
// bits of s[j-4] and s[j].
inline void k_scale_min(const uint8_t* s, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K element i (0..255) of the 144-byte block: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes.
// 64-weight chunk c uses qs[32c .. 32c+32): low nibbles are sub-block 2c, high nibbles 2c+1.
inline double q4_k_element(const uint8_t* blk, int i) {
  const int chunk = i / 64, r = i % 64, j = 2 * chunk + (r >= 32 ? 1 : 0);
  int scale, min;
  k_scale_min(blk + 4, j, &scale, &min);
  const uint8_t byte = blk[16 + 32 * chunk + r % 32];
  const int q = r < 32 ? (byte & 15) : (byte >> 4);
  return half_value(blk) * scale * q - half_value(blk + 2) * min;
}

// Q5_K element i of the 176-byte block: f16 d, f16 dmin, scales[12], qh[32], qs[128]. As Q4_K, with
// a 5th bit: bit 2c of qh[l] for the low nibble l of chunk c, bit 2c+1 for the high nibble.
inline double q5_k_element(const uint8_t* blk, int i) {
  const int chunk = i / 64, r = i % 64, j = 2 * chunk + (r >= 32 ? 1 : 0);
  int scale, min;
  k_scale_min(blk + 4, j, &scale, &min);
  const uint8_t byte = blk[48 + 32 * chunk + r % 32];
  const int bit = (blk[16 + r % 32] >> j) & 1;
  const int q = (r < 32 ? (byte & 15) : (byte >> 4)) | (bit << 4);
  return half_value(blk) * scale * q - half_value(blk + 2) * min;
}

// Q6_K element i of the 210-byte block: ql[128], qh[64], int8 scales[16], f16 d.
// Within half h (128 weights) and quarter k (32 weights) at position l: low 4 bits from
// ql[64h + l + 32*(k&1)] (low nibble for k < 2, high for k >= 2), high 2 bits from bits 2k..2k+1 of
// qh[32h + l]; q - 32 times d times scales[i / 16].
inline double q6_k_element(const uint8_t* blk, int i) {
  const uint8_t* ql = blk;
  const uint8_t* qh = blk + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
  const double d = half_value(blk + 208);
  const int h = i / 128, r = i % 128, k = r / 32, l = r % 32;
  const uint8_t lb = ql[64 * h + l + 32 * (k & 1)];
  const int low = k < 2 ? (lb & 15) : (lb >> 4);
  const int high = (qh[32 * h + l] >> (2 * k)) & 3;
  return d * scales[i / 16] * ((low | (high << 4)) - 32);
}

// Q8_0 element i of the 34-byte block: f16 d, int8 qs[32].
inline double q8_0_element(const uint8_t* blk, int i) {
  return half_value(blk) * static_cast<int8_t>(blk[2 + i]);
}

// Q5_0 element i of the 22-byte block: f16 d, u32 qh, qs[16]; element j < 16 is the low nibble of
// qs[j] with bit j of qh, element j + 16 the high nibble with bit j + 16.
inline double q5_0_element(const uint8_t* blk, int i) {
  uint32_t qh;
  std::memcpy(&qh, blk + 2, 4);
  const uint8_t byte = blk[6 + i % 16];
  const int nib = i < 16 ? (byte & 15) : (byte >> 4);
  const int q = nib | static_cast<int>(((qh >> i) & 1u) << 4);
  return half_value(blk) * (q - 16);
}

// AprQ4 element i of the 18-byte block: f16 scale, 16 bytes, low nibble = even element.
inline double aprq4_element(const uint8_t* blk, int i) {
  const uint8_t byte = blk[2 + i / 2];
  const int q = i % 2 == 0 ? (byte & 15) : (byte >> 4);
  return half_value(blk) * (q - 8);
}

}  // namespace aprc::testing
