#include "aprc/formats/quantize_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "aprc/formats/formats.h"

namespace aprc {
namespace {

float max_abs(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// The element of largest magnitude, with its sign (ggml's choice for the asymmetric formats: it
// maps onto the most negative level exactly).
float signed_max(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  return m;
}

// The smallest f16 >= v (v >= 0, finite).
uint16_t f16_at_least(float v) {
  uint16_t h = f32_to_f16(v);
  if (f16_to_f32(h) < v && h < 0x7bffu) ++h;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Q4_K / Q5_K: per 32-weight sub-block j, w = (d * sc_j) * q - dmin * m_j with 6-bit sc_j, m_j and
// q in 0..levels.
// ---------------------------------------------------------------------------------------------

struct KCodes {
  uint16_t d = 0, dmin = 0;
  uint8_t sc[8] = {}, m[8] = {};
  uint8_t q[APRC_QK_K] = {};
};

// Levels of x (n weights) for the step `scale` and the offset `offset` (w = scale * q - offset),
// and their squared error, weighted by w (nullptr: unweighted).
double affine_levels(const float* x, const float* w, int n, float scale, float offset, int levels, uint8_t* q) {
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const int l = round_clamp((x[i] + offset) * inv, 0, levels);
    if (q) q[i] = static_cast<uint8_t>(l);
    const double e = static_cast<double>(scale * static_cast<float>(l) - offset) - x[i];
    err += (w ? w[i] : 1.0) * e * e;
  }
  return err;
}

// The scale and offset (>= 0, as the format stores it) of one sub-block: of the min/max choice and
// of the weighted least-squares lines through the levels of 21 trial steps from range/(levels-1)
// to range/(levels+1), the one of least weighted error.
void search_affine(const float* x, const float* w, int n, int levels, float* scale, float* offset) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  *offset = -lo;
  *scale = hi > lo ? (hi - lo) / static_cast<float>(levels) : 0.0f;
  if (!(hi > lo)) return;
  double best = affine_levels(x, w, n, *scale, *offset, levels, nullptr);
  for (int s = 0; s <= 20; ++s) {
    const float trial = (static_cast<float>(levels) - 1.0f + 0.1f * static_cast<float>(s)) / (hi - lo);
    double sw = 0, swq = 0, swq2 = 0, swx = 0, swqx = 0;
    for (int i = 0; i < n; ++i) {
      const double q = round_clamp(trial * (x[i] - lo), 0, levels);
      sw += w[i];
      swq += w[i] * q;
      swq2 += w[i] * q * q;
      swx += w[i] * x[i];
      swqx += w[i] * q * x[i];
    }
    const double det = sw * swq2 - swq * swq;
    if (!(det > 0)) continue;
    double a = (sw * swqx - swq * swx) / det;    // the step
    double b = (swq2 * swx - swq * swqx) / det;  // the value of level 0 (-offset)
    if (b > 0) {  // the format's offset cannot be negative: the best line through 0 instead
      b = 0;
      a = swqx / swq2;
    }
    if (!(a > 0)) continue;
    const double err = affine_levels(x, w, n, static_cast<float>(a), static_cast<float>(-b), levels, nullptr);
    if (err < best) {
      best = err;
      *scale = static_cast<float>(a);
      *offset = static_cast<float>(-b);
    }
  }
}

// The plain choice: each sub-block's offset is -min (rounded to nearest against dmin), its step
// the rest of its range over the levels, rounded up so that the top of every sub-block is
// representable without clamping.
void k_codes_min_max(const float* x, int levels, KCodes* c) {
  float offset[8], need[8];
  float max_offset = 0;
  for (int j = 0; j < 8; ++j) {
    float mn = 0;
    for (int i = 0; i < 32; ++i) mn = std::min(mn, x[32 * j + i]);
    offset[j] = -mn;
    max_offset = std::max(max_offset, offset[j]);
  }
  c->dmin = f16_at_least(max_offset / 63.0f);
  const float dmin = f16_to_f32(c->dmin);
  float max_need = 0;
  for (int j = 0; j < 8; ++j) {
    c->m[j] = static_cast<uint8_t>(dmin > 0 ? round_clamp(offset[j] / dmin, 0, 63) : 0);
    const float o = dmin * static_cast<float>(c->m[j]);
    float top = 0;
    for (int i = 0; i < 32; ++i) top = std::max(top, x[32 * j + i] + o);
    need[j] = top / static_cast<float>(levels);
    max_need = std::max(max_need, need[j]);
  }
  c->d = f16_at_least(max_need / 63.0f);
  const float d = f16_to_f32(c->d);
  for (int j = 0; j < 8; ++j) {
    c->sc[j] = static_cast<uint8_t>(std::min(d > 0 ? static_cast<int>(std::ceil(need[j] / d)) : 0, 63));
    affine_levels(x + 32 * j, nullptr, 32, d * c->sc[j], dmin * c->m[j], levels, c->q + 32 * j);
  }
}

// The search: the best scale and offset of each sub-block (search_affine), d and dmin that map
// the largest of them onto code 63 (rounded up to an f16, so that no code is clamped), then each
// sub-block's codes tried one either side of nearest.
void k_codes_search(const float* x, int levels, KCodes* c) {
  float w[APRC_QK_K], scale[8], offset[8];
  float max_scale = 0, max_offset = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    double sum2 = 0;
    for (int i = 0; i < 32; ++i) sum2 += static_cast<double>(xs[i]) * xs[i];
    const float rms = static_cast<float>(std::sqrt(sum2 / 32));
    for (int i = 0; i < 32; ++i) w[32 * j + i] = rms + std::fabs(xs[i]);
    search_affine(xs, w + 32 * j, 32, levels, &scale[j], &offset[j]);
    max_scale = std::max(max_scale, scale[j]);
    max_offset = std::max(max_offset, offset[j]);
  }
  c->d = f16_at_least(max_scale / 63.0f);
  c->dmin = f16_at_least(max_offset / 63.0f);
  const float d = f16_to_f32(c->d), dmin = f16_to_f32(c->dmin);
  for (int j = 0; j < 8; ++j) {
    const int sc0 = d > 0 ? round_clamp(scale[j] / d, 0, 63) : 0;
    const int m0 = dmin > 0 ? round_clamp(offset[j] / dmin, 0, 63) : 0;
    double best = -1;
    for (int sc = std::max(sc0 - 1, 0); sc <= std::min(sc0 + 1, 63); ++sc)
      for (int m = std::max(m0 - 1, 0); m <= std::min(m0 + 1, 63); ++m) {
        const double err = affine_levels(x + 32 * j, w + 32 * j, 32, d * static_cast<float>(sc),
                                         dmin * static_cast<float>(m), levels, nullptr);
        if (best < 0 || err < best) {
          best = err;
          c->sc[j] = static_cast<uint8_t>(sc);
          c->m[j] = static_cast<uint8_t>(m);
        }
      }
    affine_levels(x + 32 * j, nullptr, 32, d * c->sc[j], dmin * c->m[j], levels, c->q + 32 * j);
  }
}

// The plain squared error of a super-block's codes, computed as blocks.h dequantizes them.
double k_codes_error(const float* x, const KCodes& c) {
  const float d = f16_to_f32(c.d), dmin = f16_to_f32(c.dmin);
  double err = 0;
  for (int j = 0; j < 8; ++j) {
    const float step = d * static_cast<float>(c.sc[j]), off = dmin * static_cast<float>(c.m[j]);
    for (int i = 0; i < 32; ++i) {
      const double e = static_cast<double>(step * static_cast<float>(c.q[32 * j + i]) - off) - x[32 * j + i];
      err += e * e;
    }
  }
  return err;
}

// Packs the 6-bit scale and min of sub-block j, the inverse of aprc_k_scale_min.
void pack_k_scale_min(int j, int sc, int m, uint8_t* s) {
  if (j < 4) {
    s[j] = static_cast<uint8_t>((s[j] & 0xc0) | sc);
    s[j + 4] = static_cast<uint8_t>((s[j + 4] & 0xc0) | m);
  } else {
    s[j + 4] = static_cast<uint8_t>((sc & 15) | ((m & 15) << 4));
    s[j - 4] = static_cast<uint8_t>((s[j - 4] & 0x3f) | ((sc >> 4) << 6));
    s[j] = static_cast<uint8_t>((s[j] & 0x3f) | ((m >> 4) << 6));
  }
}

// The codes of a Q4_K / Q5_K super-block, d, dmin and scales[12] written into the block.
KCodes k_codes(const float* x, int levels, KQuantSearch search, uint16_t* d, uint16_t* dmin, uint8_t* scales) {
  KCodes c;
  k_codes_min_max(x, levels, &c);
  if (search == KQuantSearch::ErrorMinimizing) {
    KCodes s;
    k_codes_search(x, levels, &s);
    if (k_codes_error(x, s) < k_codes_error(x, c)) c = s;
  }
  *d = c.d;
  *dmin = c.dmin;
  std::memset(scales, 0, APRC_K_SCALE_SIZE);
  for (int j = 0; j < 8; ++j) pack_k_scale_min(j, c.sc[j], c.m[j], scales);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Q6_K: per 16-weight sub-block j, w = (d * sc_j) * q with int8 sc_j and q in -32..31.
// ---------------------------------------------------------------------------------------------

struct Q6Codes {
  uint16_t d = 0;
  int8_t sc[16] = {};
  int8_t q[APRC_QK_K] = {};
};

double symmetric_levels(const float* x, const float* w, int n, float scale, int8_t* q) {
  const float inv = scale != 0 ? 1.0f / scale : 0.0f;
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const int l = round_clamp(x[i] * inv, -32, 31);
    if (q) q[i] = static_cast<int8_t>(l);
    const double e = static_cast<double>(scale * static_cast<float>(l)) - x[i];
    err += (w ? w[i] : 1.0) * e * e;
  }
  return err;
}

// The scale of one sub-block: of the min/max one (the largest magnitude onto -32) and of the
// weighted least-squares scales of the levels of trial steps that put the largest magnitude near
// -32 or near +31, the one of least weighted error.
float search_symmetric(const float* x, const float* w, int n) {
  const float m = signed_max(x, n);
  if (m == 0) return 0;
  float best_scale = m / -32.0f;
  double best = symmetric_levels(x, w, n, best_scale, nullptr);
  for (int s = -10; s <= 10; ++s)
    for (float target : {-32.0f, 31.0f}) {
      const float trial = (target + 0.1f * static_cast<float>(s)) / m;
      double swqx = 0, swq2 = 0;
      for (int i = 0; i < n; ++i) {
        const double q = round_clamp(trial * x[i], -32, 31);
        swqx += w[i] * q * x[i];
        swq2 += w[i] * q * q;
      }
      if (!(swq2 > 0)) continue;
      const float scale = static_cast<float>(swqx / swq2);
      const double err = symmetric_levels(x, w, n, scale, nullptr);
      if (err < best) {
        best = err;
        best_scale = scale;
      }
    }
  return best_scale;
}

// The plain choice: each sub-block's largest magnitude onto -32, its scale's magnitude rounded up
// so that it is not clamped.
void q6_codes_min_max(const float* x, Q6Codes* c) {
  float want[16];
  float max_scale = 0;
  for (int j = 0; j < 16; ++j) {
    want[j] = signed_max(x + 16 * j, 16) / -32.0f;
    max_scale = std::max(max_scale, std::fabs(want[j]));
  }
  c->d = f16_at_least(max_scale / 127.0f);
  const float d = f16_to_f32(c->d);
  for (int j = 0; j < 16; ++j) {
    int sc = std::min(d > 0 ? static_cast<int>(std::ceil(std::fabs(want[j]) / d)) : 0, 127);
    if (want[j] < 0) sc = -sc;
    c->sc[j] = static_cast<int8_t>(sc);
    symmetric_levels(x + 16 * j, nullptr, 16, d * static_cast<float>(sc), c->q + 16 * j);
  }
}

// The search: the best scale of each sub-block (search_symmetric, weights x^2 plus the super-block's
// mean square, so that no weight counts for nothing), d that maps the largest onto code 127 (rounded
// up to an f16), then each sub-block's code tried one either side of nearest.
void q6_codes_search(const float* x, Q6Codes* c) {
  float w[APRC_QK_K], scale[16];
  double sum2 = 0;
  for (int i = 0; i < APRC_QK_K; ++i) sum2 += static_cast<double>(x[i]) * x[i];
  const float mean2 = static_cast<float>(sum2 / APRC_QK_K);
  for (int i = 0; i < APRC_QK_K; ++i) w[i] = x[i] * x[i] + mean2;
  float max_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scale[j] = search_symmetric(x + 16 * j, w + 16 * j, 16);
    max_scale = std::max(max_scale, std::fabs(scale[j]));
  }
  c->d = f16_at_least(max_scale / 127.0f);
  const float d = f16_to_f32(c->d);
  for (int j = 0; j < 16; ++j) {
    const int sc0 = d > 0 ? round_clamp(scale[j] / d, -127, 127) : 0;
    double best = -1;
    for (int sc = std::max(sc0 - 1, -127); sc <= std::min(sc0 + 1, 127); ++sc) {
      const double err = symmetric_levels(x + 16 * j, w + 16 * j, 16, d * static_cast<float>(sc), nullptr);
      if (best < 0 || err < best) {
        best = err;
        c->sc[j] = static_cast<int8_t>(sc);
      }
    }
    symmetric_levels(x + 16 * j, nullptr, 16, d * static_cast<float>(c->sc[j]), c->q + 16 * j);
  }
}

double q6_codes_error(const float* x, const Q6Codes& c) {
  const float d = f16_to_f32(c.d);
  double err = 0;
  for (int i = 0; i < APRC_QK_K; ++i) {
    const double e = static_cast<double>(d * static_cast<float>(c.sc[i / 16]) * static_cast<float>(c.q[i])) - x[i];
    err += e * e;
  }
  return err;
}

}  // namespace

int round_clamp(float v, int lo, int hi) {
  const float r = std::nearbyint(v);
  if (!(r >= static_cast<float>(lo))) return lo;  // NaN included
  if (r > static_cast<float>(hi)) return hi;
  return static_cast<int>(r);
}

void quantize_block_q8_0(const float* x, aprc_block_q8_0* b) {
  const float amax = max_abs(x, APRC_QK8_0);
  b->d = f32_to_f16(amax / 127.0f);
  const float d = f16_to_f32(b->d);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < APRC_QK8_0; ++i) b->qs[i] = static_cast<int8_t>(round_clamp(x[i] * id, -127, 127));
}

void quantize_block_q5_0(const float* x, aprc_block_q5_0* b) {
  b->d = f32_to_f16(signed_max(x, APRC_QK5_0) / -16.0f);
  const float d = f16_to_f32(b->d);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  uint32_t qh = 0;
  for (int j = 0; j < APRC_QK5_0 / 2; ++j) {
    const int lo = round_clamp(x[j] * id + 16.0f, 0, 31);
    const int hi = round_clamp(x[j + 16] * id + 16.0f, 0, 31);
    b->qs[j] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
    qh |= static_cast<uint32_t>(lo >> 4) << j;
    qh |= static_cast<uint32_t>(hi >> 4) << (j + 16);
  }
  for (int k = 0; k < 4; ++k) b->qh[k] = static_cast<uint8_t>(qh >> (8 * k));
}

void quantize_block_aprq4(const float* x, aprc_block_aprq4* b) {
  b->d = f32_to_f16(signed_max(x, APRC_QK_APRQ4) / -8.0f);
  const float d = f16_to_f32(b->d);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < APRC_QK_APRQ4 / 2; ++i) {
    const int lo = round_clamp(x[2 * i] * id + 8.0f, 0, 15);
    const int hi = round_clamp(x[2 * i + 1] * id + 8.0f, 0, 15);
    b->qs[i] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void quantize_block_q4_k(const float* x, aprc_block_q4_k* b, KQuantSearch search) {
  const KCodes c = k_codes(x, 15, search, &b->d, &b->dmin, b->scales);
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 32; ++l) b->qs[32 * k + l] = static_cast<uint8_t>(c.q[64 * k + l] | (c.q[64 * k + 32 + l] << 4));
}

void quantize_block_q5_k(const float* x, aprc_block_q5_k* b, KQuantSearch search) {
  const KCodes c = k_codes(x, 31, search, &b->d, &b->dmin, b->scales);
  std::memset(b->qh, 0, sizeof b->qh);
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 32; ++l) {
      const int lo = c.q[64 * k + l], hi = c.q[64 * k + 32 + l];
      b->qs[32 * k + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
      b->qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
    }
}

void quantize_block_q6_k(const float* x, aprc_block_q6_k* b, KQuantSearch search) {
  Q6Codes c;
  q6_codes_min_max(x, &c);
  if (search == KQuantSearch::ErrorMinimizing) {
    Q6Codes s;
    q6_codes_search(x, &s);
    if (q6_codes_error(x, s) < q6_codes_error(x, c)) c = s;
  }
  b->d = c.d;
  std::memcpy(b->scales, c.sc, sizeof b->scales);
  // The layout of aprc_dequant_q6_k: per half h, weights l, l+32, l+64, l+96 (l < 32).
  for (int h = 0; h < 2; ++h) {
    uint8_t* ql = b->ql + 64 * h;
    uint8_t* qh = b->qh + 32 * h;
    const int8_t* y = c.q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int q1 = y[l] + 32, q2 = y[l + 32] + 32, q3 = y[l + 64] + 32, q4 = y[l + 96] + 32;
      ql[l] = static_cast<uint8_t>((q1 & 15) | ((q3 & 15) << 4));
      ql[l + 32] = static_cast<uint8_t>((q2 & 15) | ((q4 & 15) << 4));
      qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

}  // namespace aprc
