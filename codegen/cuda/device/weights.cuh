// aprc CUDA device library, part 2: reading weights. One adapter per (format, layout) a Linear or
// Embedding kernel can read; the byte arrangements are those documented in formats/layouts.h.
//
// A row of K weights is read in chunks of CW weights (16 bytes of the main quant plane, or one value
// for the scalar float readers). Every adapter has:
//   init(base, N, K)           the planes of an [N, K] tensor starting at base
//   Raw load(row, c)           the bytes of chunk c of a row (the only global loads)
//   values(raw, out)           the CW dequantized weights
//   MINS                       whether the weights carry a per-32 min (dot products need sum(x))
//   INTX                       dot products take integer activations (quantized formats, dotq) or
//                              float ones (float formats, dot)
// Quantized adapters (INTX) also have:
//   dotq(raw, xq)              sum of x[i] * w[i] over the chunk, x given as aprc_xq (below)
//   code(raw, i), scale_of(raw, h), min_of(raw)   w[i] = scale_of(raw, i / 16) * code(raw, i) - min_of(raw)
//                              (values and decode16 follow from these: aprc_w_quantized<W>)
//   prefetch(row0, rows)       asks L2 for the rows' planes (issued before the kernel waits for its
//                              inputs, so weight traffic overlaps the previous kernel's end)
// Float adapters have dot(raw, x, xsum) over float activations. Adapters with MMA = true (weights that
// are small integers times a scale, exact in bf16) serve the tensor-core prefill through decode16.

// A 32-weight chunk of the activation row, ready for byte dot products:
//   x[i] ~ s * (q1[i] + q2[i] / 2^8 + q3[i] / 2^16), |error| <= max|x| / 16.6e6 (f32-class),
// q1, q2, q3 int8 in group order (layouts.h: word g holds group g), with the float sums of x over
// groups 0-3 and 4-7 (xh, the weights 0-15 and 16-31) and over the chunk (xsum).
struct aprc_xq {
  unsigned q[3][8];
  float s, xsum, xh[2];
};

// Element j of group g of a chunk is weight 8 * (g / 2) + 2j + g % 2; the inverse:
APRC_DEV void aprc_group_of(int i, int& g, int& j) {
  g = ((i >> 3) << 1) | (i & 1);
  j = (i & 7) >> 1;
}

// Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block from its 16-byte header held as a uint4:
// x = d | dmin << 16, y/z/w = the 12 scale bytes (see aprc_k_scale_min in blocks.h).
APRC_DEV void aprc_kquant_scale_min(uint4 h, int j, float& dsc, float& dm) {
  // Both halves' formulas, then a select: j depends on the lane, so a branch would diverge.
  const float d = aprc_half_to_float((unsigned short)(h.x & 0xffffu));
  const float dmin = aprc_half_to_float((unsigned short)(h.x >> 16));
  const int k = 8 * (j & 3);
  const unsigned y = h.y >> k, z = h.z >> k, w = h.w >> k;
  const unsigned sc = j < 4 ? (y & 63u) : ((w & 15u) | ((y >> 6) & 3u) << 4);
  const unsigned m = j < 4 ? (z & 63u) : (((w >> 4) & 15u) | ((z >> 6) & 3u) << 4);
  dsc = d * (float)sc;
  dm = dmin * (float)m;
}

APRC_DEV unsigned aprc_bf16_of_small_int(int v) {
  // |v| <= 256: exact in bf16; the top half of the f32 bits is the bf16.
  return aprc_as_uint((float)v) >> 16;
}

// Codes of the 4 weights of group g (one byte each) from a chunk of packed 4-bit codes (natural order,
// weight 2i in the low nibble of byte i): even groups are the low nibbles of word g / 2, odd ones the
// high nibbles.
APRC_DEV unsigned aprc_nibble_group(const uint4& q, int g) {
  const unsigned w = (g >> 1) == 0 ? q.x : (g >> 1) == 1 ? q.y : (g >> 1) == 2 ? q.z : q.w;
  return ((g & 1) ? (w >> 4) : w) & 0x0F0F0F0Fu;
}

// Sums of codes * q[level] over groups [g0, g0 + n), codes(g) given by the callable (unsigned bytes).
template <class Codes>
APRC_DEV void aprc_dot_groups(const aprc_xq& x, int g0, int n, Codes codes, int* d) {
#pragma unroll
  for (int k = 0; k < n; ++k) {
    const unsigned c = codes(g0 + k);
#pragma unroll
    for (int v = 0; v < 3; ++v) d[v] = aprc_dp4a_us(c, x.q[v][g0 + k], d[v]);
  }
}

// d[0] + d[1] / 2^8 + d[2] / 2^16: the dot product of the codes with x / s.
APRC_DEV float aprc_combine(const int* d) {
  return (float)d[0] + (float)d[1] * (1.0f / 256.0f) + (float)d[2] * (1.0f / 65536.0f);
}

// The dequantized values and the tensor-core decode of every quantized adapter W, from its
// code/scale_of/min_of: W derives from aprc_w_quantized<W>.
template <class W>
struct aprc_w_quantized {
  template <class R>
  APRC_DEV void values(const R& r, float* out) const {
    const W& w = static_cast<const W&>(*this);
    const float mn = w.min_of(r);
    for (int i = 0; i < W::CW; ++i) out[i] = w.scale_of(r, i >> 4) * (float)w.code(r, i) - mn;
  }
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& scale, float& mn) const {
    const W& w = static_cast<const W&>(*this);
    const typename W::Raw r = W::CW == 32 ? w.load(row, k0 >> 5) : w.load(row, (k0 >> 4) + h);
    const int base = W::CW == 32 ? 16 * h : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i)
      pairs[i] = aprc_bf16_of_small_int(w.code(r, base + 2 * i)) | aprc_bf16_of_small_int(w.code(r, base + 2 * i + 1)) << 16;
    scale = w.scale_of(r, W::CW == 32 ? h : 0);
    mn = w.min_of(r);
  }
};

// scale_of/min_of of the k-quants with 6-bit scales and mins (Q4_K, Q5_K): sub-block r.j of the
// 8-chunk header r.h.
struct aprc_kquant_mins {
  template <class R>
  APRC_DEV float scale_of(const R& r, int) const {
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dsc;
  }
  template <class R>
  APRC_DEV float min_of(const R& r) const {
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dm;
  }
};

// ---- Q4_K in cuda_q4_k ------------------------------------------------------------------------------
struct aprc_w_q4k : aprc_w_quantized<aprc_w_q4k>, aprc_kquant_mins {
  static constexpr bool MINS = true, INTX = true, MMA = true;
  static constexpr int CW = 32;
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
  APRC_DEV void prefetch(int row0, int rows) const {
    aprc_prefetch_l2(qs + (size_t)row0 * cpr * 16, (unsigned)rows * cpr * 16);
    aprc_prefetch_l2(hdr + (size_t)row0 * cpr * 2, (unsigned)rows * cpr * 2);
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.h = aprc_ldg16(hdr + (ci >> 3) * 16);
    r.j = c & 7;
    return r;
  }
  APRC_DEV float dotq(const Raw& r, const aprc_xq& x) const {
    int d[3] = {0, 0, 0};
    aprc_dot_groups(x, 0, 8, [&](int g) { return aprc_nibble_group(r.q, g); }, d);
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dsc * x.s * aprc_combine(d) - dm * x.xsum;
  }
  APRC_DEV int code(const Raw& r, int i) const {
    const unsigned w = (i >> 3) == 0 ? r.q.x : (i >> 3) == 1 ? r.q.y : (i >> 3) == 2 ? r.q.z : r.q.w;
    return (int)((w >> (4 * (i & 7))) & 15u);
  }
};

// ---- Q5_K in cuda_q5_k ------------------------------------------------------------------------------
struct aprc_w_q5k : aprc_w_quantized<aprc_w_q5k>, aprc_kquant_mins {
  static constexpr bool MINS = true, INTX = true, MMA = true;
  static constexpr int CW = 32;
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
  APRC_DEV void prefetch(int row0, int rows) const {
    aprc_prefetch_l2(qs + (size_t)row0 * cpr * 16, (unsigned)rows * cpr * 16);
    aprc_prefetch_l2(qh + (size_t)row0 * cpr * 4, (unsigned)rows * cpr * 4);
    aprc_prefetch_l2(hdr + (size_t)row0 * cpr * 2, (unsigned)rows * cpr * 2);
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
  APRC_DEV float dotq(const Raw& r, const aprc_xq& x) const {
    int d[3] = {0, 0, 0};
    aprc_dot_groups(x, 0, 8, [&](int g) { return aprc_nibble_group(r.q, g) | ((r.hb >> g) & 0x01010101u) << 4; }, d);
    float dsc, dm;
    aprc_kquant_scale_min(r.h, r.j, dsc, dm);
    return dsc * x.s * aprc_combine(d) - dm * x.xsum;
  }
  APRC_DEV int code(const Raw& r, int i) const {
    int g, j;
    aprc_group_of(i, g, j);
    const unsigned w = (i >> 3) == 0 ? r.q.x : (i >> 3) == 1 ? r.q.y : (i >> 3) == 2 ? r.q.z : r.q.w;
    return (int)(((w >> (4 * (i & 7))) & 15u) | ((r.hb >> (8 * j + g)) & 1u) << 4);
  }
};

// ---- Q6_K in cuda_q6_k ------------------------------------------------------------------------------
struct aprc_w_q6k : aprc_w_quantized<aprc_w_q6k> {
  static constexpr bool MINS = false, INTX = true, MMA = true;
  static constexpr int CW = 32;
  const unsigned char* ql;
  const unsigned char* qh;
  const unsigned char* sc;
  const unsigned char* dd;
  int cpr;
  struct Raw {
    uint4 q;
    uint2 h;  // x: groups 0-3, y: groups 4-7 (bit-sliced high bits)
    unsigned s2, d;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 32;
    ql = (const unsigned char*)base;
    qh = ql + (size_t)N * cpr * 16;
    sc = qh + (size_t)N * cpr * 8;
    dd = sc + (size_t)N * cpr * 2;
  }
  APRC_DEV void prefetch(int row0, int rows) const {
    aprc_prefetch_l2(ql + (size_t)row0 * cpr * 16, (unsigned)rows * cpr * 16);
    aprc_prefetch_l2(qh + (size_t)row0 * cpr * 8, (unsigned)rows * cpr * 8);
    aprc_prefetch_l2(sc + (size_t)row0 * cpr * 2, (unsigned)rows * cpr * 2);
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
  APRC_DEV static unsigned group_codes(const Raw& r, int g) {
    const unsigned hb = ((g >> 2) ? r.h.y : r.h.x) >> (2 * (g & 3));
    return aprc_nibble_group(r.q, g) | (hb & 0x03030303u) << 4;
  }
  APRC_DEV float dotq(const Raw& r, const aprc_xq& x) const {
    float acc = 0.f;
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // codes are 0..63 for weights q - 32: subtract 32 * sum(x)
      int d[3] = {0, 0, 0};
      aprc_dot_groups(x, 4 * h, 4, [&](int g) { return group_codes(r, g); }, d);
      const float sh = (float)(signed char)((r.s2 >> (8 * h)) & 0xffu);
      acc += sh * (x.s * aprc_combine(d) - 32.f * x.xh[h]);
    }
    return aprc_half_to_float((unsigned short)r.d) * acc;
  }
  APRC_DEV int code(const Raw& r, int i) const {
    int g, j;
    aprc_group_of(i, g, j);
    return (int)((group_codes(r, g) >> (8 * j)) & 0xffu) - 32;
  }
  APRC_DEV float scale_of(const Raw& r, int h) const {
    return aprc_half_to_float((unsigned short)r.d) * (float)(signed char)((r.s2 >> (8 * h)) & 0xffu);
  }
  APRC_DEV float min_of(const Raw&) const { return 0.f; }
};

// ---- Q8_0 in cuda_q8_0 (chunks of 16 weights: half a block, groups 4h..4h+3) ---------------------------
struct aprc_w_q8_0 : aprc_w_quantized<aprc_w_q8_0> {
  static constexpr bool MINS = false, INTX = true, MMA = true;
  static constexpr int CW = 16;
  const unsigned char* qs;
  const unsigned char* dd;
  int cpr;
  struct Raw {
    uint4 q;
    unsigned d;
    int half;
  };
  APRC_DEV void init(const void* base, int N, int K) {
    cpr = K / 16;
    qs = (const unsigned char*)base;
    dd = qs + (size_t)N * cpr * 16;
  }
  APRC_DEV void prefetch(int row0, int rows) const {
    aprc_prefetch_l2(qs + (size_t)row0 * cpr * 16, (unsigned)rows * cpr * 16);
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.d = aprc_ldg2(dd + (ci >> 1) * 2);
    r.half = c & 1;
    return r;
  }
  APRC_DEV float dotq(const Raw& r, const aprc_xq& x) const {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    const int g0 = 4 * r.half;
    int d[3] = {0, 0, 0};
#pragma unroll
    for (int k = 0; k < 4; ++k)
#pragma unroll
      for (int v = 0; v < 3; ++v) d[v] = aprc_dp4a_ss(q[k], x.q[v][g0 + k], d[v]);
    return aprc_half_to_float((unsigned short)r.d) * x.s * aprc_combine(d);
  }
  APRC_DEV int code(const Raw& r, int i) const {  // i in 0..15: groups 0-3 of this half
    int g, j;
    aprc_group_of(i, g, j);
    const unsigned w = g == 0 ? r.q.x : g == 1 ? r.q.y : g == 2 ? r.q.z : r.q.w;
    return (int)(signed char)((w >> (8 * j)) & 0xffu);
  }
  APRC_DEV float scale_of(const Raw& r, int) const { return aprc_half_to_float((unsigned short)r.d); }
  APRC_DEV float min_of(const Raw&) const { return 0.f; }
};

// ---- Q5_0 in cuda_q5_0 --------------------------------------------------------------------------------
struct aprc_w_q5_0 : aprc_w_quantized<aprc_w_q5_0> {
  static constexpr bool MINS = false, INTX = true, MMA = true;
  static constexpr int CW = 32;
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
  APRC_DEV void prefetch(int row0, int rows) const {
    aprc_prefetch_l2(qs + (size_t)row0 * cpr * 16, (unsigned)rows * cpr * 16);
    aprc_prefetch_l2(qh + (size_t)row0 * cpr * 4, (unsigned)rows * cpr * 4);
  }
  APRC_DEV Raw load(int row, int c) const {
    const size_t ci = (size_t)row * cpr + c;
    Raw r;
    r.q = aprc_ldg16(qs + ci * 16);
    r.hb = aprc_ldg4(qh + ci * 4);
    r.d = aprc_ldg2(dd + ci * 2);
    return r;
  }
  APRC_DEV float dotq(const Raw& r, const aprc_xq& x) const {
    int d[3] = {0, 0, 0};
    aprc_dot_groups(x, 0, 8, [&](int g) { return aprc_nibble_group(r.q, g) | ((r.hb >> g) & 0x01010101u) << 4; }, d);
    return aprc_half_to_float((unsigned short)r.d) * (x.s * aprc_combine(d) - 16.f * x.xsum);  // codes 0..31 for q - 16
  }
  APRC_DEV int code(const Raw& r, int i) const {
    int g, j;
    aprc_group_of(i, g, j);
    const unsigned w = (i >> 3) == 0 ? r.q.x : (i >> 3) == 1 ? r.q.y : (i >> 3) == 2 ? r.q.z : r.q.w;
    return (int)(((w >> (4 * (i & 7))) & 15u) | ((r.hb >> (8 * j + g)) & 1u) << 4) - 16;
  }
  APRC_DEV float scale_of(const Raw& r, int) const { return aprc_half_to_float((unsigned short)r.d); }
  APRC_DEV float min_of(const Raw&) const { return 0.f; }
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
  static constexpr bool MINS = false, INTX = false;
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
  APRC_DEV void prefetch(int row0, int rows) const {
    if (VEC) aprc_prefetch_l2(p + (size_t)row0 * K * ESIZE, (unsigned)((size_t)rows * K * ESIZE));
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

// ---- quantized blocks in row_major (as model files store them) ------------------------------------
// A correct, not fast, reader: tied embeddings and tables keep row_major (the repack pass gives the
// cuda layouts only to matrices that nothing else reads), so a tied model's logits matrix arrives so.
// A chunk is one sub-block of 32 weights, decoded straight from the block into floats (float path).
// FMT: 0 q4_k, 1 q5_k, 2 q6_k, 3 q8_0, 4 q5_0, 5 aprq4.
template <int FMT>
struct aprc_w_rowq {
  static constexpr bool MINS = false, INTX = false, MMA = false;
  static constexpr int CW = 32;
  static constexpr int QK = FMT <= 2 ? 256 : 32;
  static constexpr int BB = FMT == 0 ? 144 : FMT == 1 ? 176 : FMT == 2 ? 210 : FMT == 3 ? 34 : FMT == 4 ? 22 : 18;
  const unsigned char* p;
  int bpr;  // blocks per row
  struct Raw {
    const unsigned char* blk;
    int s;  // sub-block of 32 within the block
  };
  APRC_DEV void init(const void* base, int, int K) {
    p = (const unsigned char*)base;
    bpr = K / QK;
  }
  APRC_DEV void prefetch(int, int) const {}
  APRC_DEV Raw load(int row, int c) const {
    Raw r;
    r.blk = p + ((size_t)row * bpr + c / (QK / 32)) * BB;
    r.s = c % (QK / 32);
    return r;
  }
  APRC_DEV static float f16(const unsigned char* q) { return aprc_half_to_float((unsigned short)(q[0] | q[1] << 8)); }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned char* b = r.blk;
    const int j = r.s;
    if (FMT == 0 || FMT == 1) {  // blocks.h: sub-block j = chunk j/2, low (even j) or high nibbles
      unsigned char sc, mn;
      aprc_k_scale_min(j, b + 4, &sc, &mn);
      const float d = f16(b) * sc, m = f16(b + 2) * mn;
      const unsigned char* qs = b + (FMT == 0 ? 16 : 48) + 32 * (j >> 1);
      for (int l = 0; l < 32; ++l) {
        int q = (j & 1) ? qs[l] >> 4 : qs[l] & 15;
        if (FMT == 1) q |= ((b[16 + l] >> j) & 1) << 4;
        out[l] = d * (float)q - m;
      }
    } else if (FMT == 2) {  // weights 32j + l: half h = j/4, quarter qd = j%4
      const int h = j >> 2, qd = j & 3;
      const unsigned char* ql = b + 64 * h + 32 * (qd & 1);
      const unsigned char* qh = b + 128 + 32 * h;
      const float d = f16(b + 208);
      for (int l = 0; l < 32; ++l) {
        const int q = (int)(((qd >= 2 ? ql[l] >> 4 : ql[l] & 15)) | ((qh[l] >> (2 * qd)) & 3) << 4) - 32;
        out[l] = d * (float)(signed char)b[192 + 8 * h + 2 * qd + l / 16] * (float)q;
      }
    } else if (FMT == 3) {
      const float d = f16(b);
      for (int l = 0; l < 32; ++l) out[l] = d * (float)(signed char)b[2 + l];
    } else if (FMT == 4) {
      const float d = f16(b);
      const unsigned qh = b[2] | b[3] << 8 | b[4] << 16 | (unsigned)b[5] << 24;
      for (int l = 0; l < 16; ++l) {
        out[l] = d * (float)((int)((b[6 + l] & 15) | ((qh >> l) & 1) << 4) - 16);
        out[l + 16] = d * (float)((int)((b[6 + l] >> 4) | ((qh >> (l + 16)) & 1) << 4) - 16);
      }
    } else {
      const float d = f16(b);
      for (int l = 0; l < 16; ++l) {
        out[2 * l] = d * (float)((b[2 + l] & 15) - 8);
        out[2 * l + 1] = d * (float)((b[2 + l] >> 4) - 8);
      }
    }
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    float v[32];
    values(r, v);
    float acc = 0.f;
#pragma unroll
    for (int i = 0; i < 32; ++i) acc = fmaf(x[i], v[i], acc);
    return acc;
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
