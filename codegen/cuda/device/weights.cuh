// aprc CUDA device library, part 2: reading weights. One adapter per (format, layout) a Linear or
// Embedding kernel can read; the byte arrangements are those documented in formats/layouts.h.
//
// A row of K weights is read in chunks of CW weights (16 bytes of the main quant plane, or one value
// for the scalar float readers). Every adapter has:
//   init(base, N, K)           the planes of an [N, K] tensor starting at base
//   Raw load(row, c)           the bytes of chunk c of a row (the only global loads)
//   dot(raw, x, xsum)          sum of x[i] * w[i] over the chunk; xsum = sum of x over the chunk
//   values(raw, out)           the CW dequantized weights
//   MINS                       whether dot uses xsum (formats with a per-32 min)
// and adapters with MMA = true (their weights are small integers times a scale, exact in bf16):
//   decode16(row, k0, h, pairs, scale, mn)   weights k0+16h .. k0+16h+15 (k0 a multiple of 32) as
//                              8 bf16 pairs of integers q, with w = scale * q - mn.

// Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block from its 16-byte header held as a uint4:
// x = d | dmin << 16, y/z/w = the 12 scale bytes (see aprc_k_scale_min in blocks.h).
APRC_DEV void aprc_kquant_scale_min(uint4 h, int j, float& dsc, float& dm) {
  const float d = aprc_half_to_float((unsigned short)(h.x & 0xffffu));
  const float dmin = aprc_half_to_float((unsigned short)(h.x >> 16));
  unsigned sc, m;
  if (j < 4) {
    sc = (h.y >> (8 * j)) & 63u;
    m = (h.z >> (8 * j)) & 63u;
  } else {
    const int k = 8 * (j - 4);
    sc = ((h.w >> k) & 15u) | (((h.y >> k) >> 6) & 3u) << 4;
    m = ((h.w >> k) >> 4 & 15u) | (((h.z >> k) >> 6) & 3u) << 4;
  }
  dsc = d * (float)sc;
  dm = dmin * (float)m;
}

APRC_DEV unsigned aprc_bf16_of_small_int(int v) {
  // |v| <= 256: exact in bf16; the top half of the f32 bits is the bf16.
  return aprc_as_uint((float)v) >> 16;
}

// The code of weight i (0..31) of a chunk of 4-bit codes in natural order (words q[0..3]), with a 5th
// bit from bit i of hb when FIVE.
template <bool FIVE>
APRC_DEV unsigned aprc_code(const unsigned* q, unsigned hb, int i) {
  const unsigned v = (q[i >> 3] >> (4 * (i & 7))) & 15u;
  return FIVE ? v | ((hb >> i) & 1u) << 4 : v;
}

// sum over the chunk of x[i] * (code_i - offset); (0x4B000000 | v) as float is 2^23 + v exactly.
template <bool FIVE>
APRC_DEV float aprc_dot_codes(const uint4& q4, unsigned hb, const float* x, float offset) {
  const unsigned q[4] = {q4.x, q4.y, q4.z, q4.w};
  const float bias = 8388608.0f + offset;
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 32; ++i) s = fmaf(x[i], aprc_as_float(0x4B000000u | aprc_code<FIVE>(q, hb, i)) - bias, s);
  return s;
}

// Half h of a chunk (16 codes from 8 bytes q, 5th bits in the low 16 bits of hb16) as bf16 pairs of
// code - offset.
template <bool FIVE>
APRC_DEV void aprc_pairs_of_codes(uint2 q, unsigned hb16, int offset, unsigned* pairs) {
  const unsigned qw[4] = {q.x, q.y, 0u, 0u};
#pragma unroll
  for (int i = 0; i < 8; ++i)
    pairs[i] = aprc_bf16_of_small_int((int)aprc_code<FIVE>(qw, hb16, 2 * i) - offset) |
               aprc_bf16_of_small_int((int)aprc_code<FIVE>(qw, hb16, 2 * i + 1) - offset) << 16;
}

// ---- Q4_K in cuda_q4_k ------------------------------------------------------------------------------
struct aprc_w_q4k {
  static constexpr bool MINS = true;  // weights carry a per-32 min (dot needs xsum)
  static constexpr int CW = 32;
  static constexpr bool MMA = true;
  const unsigned char* qs;
  const unsigned char* hdr;
  int cpr;  // chunks per row
  struct Raw {
    uint4 q, h;
    int j;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 32;
    qs = (const unsigned char*)base;
    hdr = qs + (size_t)N * cpr * 16;
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.h = aprc_ldg16(hdr + (ci >> 3) * 16);
    r.j = c & 7;
    return r;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float xsum) const {
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dsc * aprc_dot_codes<false>(r.q, 0u, x, 0.f) - dm * xsum;
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    for (int i = 0; i < 32; ++i) out[i] = dsc * (float)aprc_code<false>(q, 0u, i) - dm;
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const size_t ci = (size_t)row * cpr + (k0 >> 5);
    aprc_pairs_of_codes<false>(aprc_ldg8(qs + ci * 16 + 8 * h), 0u, 0, pairs);
    aprc_kquant_scale_min(aprc_ldg16(hdr + (ci >> 3) * 16), (k0 >> 5) & 7, scale, mn);
  }
};

// ---- Q5_K in cuda_q5_k ------------------------------------------------------------------------------
struct aprc_w_q5k {
  static constexpr bool MINS = true;  // weights carry a per-32 min (dot needs xsum)
  static constexpr int CW = 32;
  static constexpr bool MMA = true;
  const unsigned char* qs;
  const unsigned char* qh;
  const unsigned char* hdr;
  int cpr;
  struct Raw {
    uint4 q, h;
    unsigned hb;
    int j;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 32;
    qs = (const unsigned char*)base;
    qh = qs + (size_t)N * cpr * 16;
    hdr = qh + (size_t)N * cpr * 4;
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.hb = aprc_ldg4(qh + ci * 4);
    r.h = aprc_ldg16(hdr + (ci >> 3) * 16);
    r.j = c & 7;
    return r;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float xsum) const {
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dsc * aprc_dot_codes<true>(r.q, r.hb, x, 0.f) - dm * xsum;
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    for (int i = 0; i < 32; ++i) out[i] = dsc * (float)aprc_code<true>(q, r.hb, i) - dm;
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const size_t ci = (size_t)row * cpr + (k0 >> 5);
    aprc_pairs_of_codes<true>(aprc_ldg8(qs + ci * 16 + 8 * h), aprc_ldg4(qh + ci * 4) >> (16 * h), 0, pairs);
    aprc_kquant_scale_min(aprc_ldg16(hdr + (ci >> 3) * 16), (k0 >> 5) & 7, scale, mn);
  }
};

// ---- Q6_K in cuda_q6_k ------------------------------------------------------------------------------
struct aprc_w_q6k {
  static constexpr bool MINS = false;
  static constexpr int CW = 32;
  static constexpr bool MMA = true;
  const unsigned char* ql;
  const unsigned char* qh;
  const unsigned char* sc;
  const unsigned char* dd;
  int cpr;
  struct Raw {
    uint4 q;
    uint2 h;
    unsigned s2, d;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 32;
    ql = (const unsigned char*)base;
    qh = ql + (size_t)N * cpr * 16;
    sc = qh + (size_t)N * cpr * 8;
    dd = sc + (size_t)N * cpr * 2;
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(ql + ci * 16);
    r.h = aprc_ldg8(qh + ci * 8);
    r.s2 = aprc_ldg2(sc + ci * 2);
    r.d = aprc_ldg2(dd + (ci >> 3) * 2);
    return r;
  }
  // 6-bit value of weight 8w + k of the chunk (0..63).
  APRC_DEV static unsigned q6(const Raw& r, const unsigned* q, int w, int k) {
    const unsigned hq = (w < 2 ? r.h.x : r.h.y) >> (16 * (w & 1));
    return ((q[w] >> (4 * k)) & 15u) | ((hq >> (2 * k)) & 3u) << 4;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    float s[2] = {0.f, 0.f};
#pragma unroll
    for (int w = 0; w < 4; ++w)
#pragma unroll
      for (int k = 0; k < 8; ++k)
        s[w >> 1] = fmaf(x[8 * w + k], aprc_as_float(0x4B000000u | q6(r, q, w, k)) - 8388640.0f, s[w >> 1]);
    const float d = aprc_half_to_float((unsigned short)r.d);
    const float s0 = (float)(signed char)(r.s2 & 0xffu), s1 = (float)(signed char)(r.s2 >> 8);
    return d * (s0 * s[0] + s1 * s[1]);
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    const float d = aprc_half_to_float((unsigned short)r.d);
    for (int i = 0; i < 32; ++i) {
      const float s = (float)(signed char)((r.s2 >> (8 * (i >> 4))) & 0xffu);
      out[i] = d * s * (float)((int)q6(r, q, i >> 3, i & 7) - 32);
    }
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const size_t ci = (size_t)row * cpr + (k0 >> 5);
    const uint2 q = aprc_ldg8(ql + ci * 16 + 8 * h);
    const unsigned hb = aprc_ldg4(qh + ci * 8 + 4 * h);
    const unsigned qw[2] = {q.x, q.y};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const unsigned u = qw[i >> 2] >> (8 * (i & 3));
      const int v0 = (int)((u & 15u) | ((hb >> (4 * i)) & 3u) << 4) - 32;
      const int v1 = (int)(((u >> 4) & 15u) | ((hb >> (4 * i + 2)) & 3u) << 4) - 32;
      pairs[i] = aprc_bf16_of_small_int(v0) | aprc_bf16_of_small_int(v1) << 16;
    }
    const unsigned s2 = aprc_ldg2(sc + ci * 2);
    scale = aprc_half_to_float((unsigned short)aprc_ldg2(dd + (ci >> 3) * 2)) * (float)(signed char)((s2 >> (8 * h)) & 0xffu);
    mn = 0.f;
  }
};

// ---- Q8_0 in cuda_q8_0 (chunks of 16 weights: half a block) ------------------------------------------
struct aprc_w_q8_0 {
  static constexpr bool MINS = false;
  static constexpr int CW = 16;
  static constexpr bool MMA = true;
  const unsigned char* qs;
  const unsigned char* dd;
  int cpr;
  struct Raw {
    uint4 q;
    unsigned d;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 16;
    qs = (const unsigned char*)base;
    dd = qs + (size_t)N * cpr * 16;
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.d = aprc_ldg2(dd + (ci >> 1) * 2);
    return r;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    const unsigned q[4] = {r.q.x ^ 0x80808080u, r.q.y ^ 0x80808080u, r.q.z ^ 0x80808080u, r.q.w ^ 0x80808080u};
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < 4; ++w)
#pragma unroll
      for (int k = 0; k < 4; ++k)  // (b ^ 0x80) - 128 is the signed byte
        s = fmaf(x[4 * w + k], aprc_as_float(0x4B000000u | ((q[w] >> (8 * k)) & 0xffu)) - 8388736.0f, s);
    return aprc_half_to_float((unsigned short)r.d) * s;
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    const float d = aprc_half_to_float((unsigned short)r.d);
    for (int i = 0; i < 16; ++i) out[i] = d * (float)(signed char)((q[i >> 2] >> (8 * (i & 3))) & 0xffu);
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const Raw r = load(row, (k0 >> 4) + h);
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const unsigned u = q[i >> 1] >> (16 * (i & 1));
      pairs[i] = aprc_bf16_of_small_int((signed char)(u & 0xffu)) |
                 aprc_bf16_of_small_int((signed char)((u >> 8) & 0xffu)) << 16;
    }
    scale = aprc_half_to_float((unsigned short)r.d);
    mn = 0.f;
  }
};

// ---- Q5_0 in cuda_q5_0 --------------------------------------------------------------------------------
struct aprc_w_q5_0 {
  static constexpr bool MINS = false;
  static constexpr int CW = 32;
  static constexpr bool MMA = true;
  const unsigned char* qs;
  const unsigned char* qh;
  const unsigned char* dd;
  int cpr;
  struct Raw {
    uint4 q;
    unsigned hb, d;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 32;
    qs = (const unsigned char*)base;
    qh = qs + (size_t)N * cpr * 16;
    dd = qh + (size_t)N * cpr * 4;
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.hb = aprc_ldg4(qh + ci * 4);
    r.d = aprc_ldg2(dd + ci * 2);
    return r;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    return aprc_half_to_float((unsigned short)r.d) * aprc_dot_codes<true>(r.q, r.hb, x, 16.f);
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    const float d = aprc_half_to_float((unsigned short)r.d);
    for (int i = 0; i < 32; ++i) out[i] = d * (float)((int)aprc_code<true>(q, r.hb, i) - 16);
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const size_t ci = (size_t)row * cpr + (k0 >> 5);
    aprc_pairs_of_codes<true>(aprc_ldg8(qs + ci * 16 + 8 * h), aprc_ldg4(qh + ci * 4) >> (16 * h), 16, pairs);
    scale = aprc_half_to_float((unsigned short)aprc_ldg2(dd + ci * 2));
    mn = 0.f;
  }
};

// ---- plain floats in row_major ------------------------------------------------------------------------
// ELEM: 0 = f32, 1 = f16, 2 = bf16. VEC: read 16 bytes a chunk (needs K * size a multiple of 16),
// otherwise one value a chunk (any K).
template <int ELEM>
APRC_DEV float aprc_float_elem(const unsigned char* p, size_t i) {
  if (ELEM == 0) return aprc_as_float(aprc_ldg4(p + 4 * i));
  if (ELEM == 1) return aprc_half_to_float((unsigned short)aprc_ldg2(p + 2 * i));
  return aprc_bf16_to_float((unsigned short)aprc_ldg2(p + 2 * i));
}

template <int ELEM, bool VEC>
struct aprc_w_float {
  static constexpr bool MINS = false;
  static constexpr int ESIZE = ELEM == 0 ? 4 : 2;
  static constexpr int CW = VEC ? 16 / ESIZE : 1;
  static constexpr bool MMA = ELEM == 2 && VEC;  // bf16 values are exact mma operands
  const unsigned char* p;
  int K;
  struct Raw {
    uint4 v;
  };
  APRC_DEV void init(const void* base, int, int k) {
    p = (const unsigned char*)base;
    K = k;
  }
  APRC_DEV Raw load(int row, int c) const {
    Raw r;
    if (VEC) {
      r.v = aprc_ldg16(p + ((size_t)row * K + (size_t)c * CW) * ESIZE);
    } else {
      r.v.x = aprc_as_uint(aprc_float_elem<ELEM>(p, (size_t)row * K + c));
      r.v.y = r.v.z = r.v.w = 0;
    }
    return r;
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned w[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
    if (!VEC) {
      out[0] = aprc_as_float(w[0]);
      return;
    }
    for (int i = 0; i < CW; ++i) {
      if (ELEM == 0) out[i] = aprc_as_float(w[i]);
      else {
        const unsigned short h = (unsigned short)(w[i >> 1] >> (16 * (i & 1)));
        out[i] = ELEM == 1 ? aprc_half_to_float(h) : aprc_bf16_to_float(h);
      }
    }
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    float v[CW];
    values(r, v);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < CW; ++i) s = fmaf(x[i], v[i], s);
    return s;
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const unsigned char* src = p + ((size_t)row * K + k0 + 16 * h) * 2;
    const uint4 a = aprc_ldg16(src), b = aprc_ldg16(src + 16);
    pairs[0] = a.x, pairs[1] = a.y, pairs[2] = a.z, pairs[3] = a.w;
    pairs[4] = b.x, pairs[5] = b.y, pairs[6] = b.z, pairs[7] = b.w;
    scale = 1.f;
    mn = 0.f;
  }
};

// One weight (row, k): the slow path of the generic fallback kernels.
template <class W>
APRC_DEV float aprc_weight_elem(const W& w, int row, int k) {
  const typename W::Raw r = w.load(row, k / W::CW);
  float v[W::CW];
  w.values(r, v);
  return v[k % W::CW];
}

// A 1-D float vector (gamma, bias) of any float dtype.
template <int ELEM>
APRC_DEV float aprc_vec(const void* p, int i) {
  return aprc_float_elem<ELEM>((const unsigned char*)p, (size_t)i);
}
