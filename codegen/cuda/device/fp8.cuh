// aprc CUDA device library, fp8 part: weights of FP8_E4M3 in row_major (formats.h: the [N, K] e4m3
// codes row after row, then the f32 scales, one per row or one for the tensor; made by the
// aprc-cast-fp8 pass through convert_weight).
//
// Three users:
//   - the decode matrix-vector kernels read them through the float adapter aprc_w_fp8 (weights.cuh's
//     interface: 16 codes a chunk, one 16-byte load, dot products in f32 times the row's scale);
//   - the bf16 tensor-core prefill (aprc_mma_tile) reads them through decode16: every e4m3 value is
//     exact in bf16 (3 mantissa bits, exponents 2^-9 .. 2^8), so that path stays f32-accurate;
//   - the FP8 tensor-core prefill (aprc_fp8_mma_tile, sm_89 and newer: mma.sync m16n8k32 e4m3 x e4m3
//     with f32 accumulation) for linears that carry aprc.fp8_per_token_activations: each token's row
//     of the (normalized) input, divided by the scale max|row| / 448, becomes two e4m3 terms, hi and
//     the rounded remainder lo, exactly as the reference interpreter's fp8_per_token does; the tile
//     multiplies both by the weights' codes into one accumulator, and the result is that sum times
//     the token's scale times the row's scale.
// Older GPUs and the emulator run the same FP8 tile through a shuffle-based model of the instruction
// (aprc_mma_e4m3_16832), so the kernel text is checked everywhere.
#pragma once

// ---- conversions -------------------------------------------------------------------------------------

// Four e4m3 codes (the bytes of `v`, lowest first) as floats.
APRC_DEV void aprc_e4m3x4_to_floats(unsigned v, float* out) {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  unsigned lo, hi;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(lo) : "h"((unsigned short)(v & 0xffffu)));
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(hi) : "h"((unsigned short)(v >> 16)));
  out[0] = aprc_half_to_float((unsigned short)(lo & 0xffffu));
  out[1] = aprc_half_to_float((unsigned short)(lo >> 16));
  out[2] = aprc_half_to_float((unsigned short)(hi & 0xffffu));
  out[3] = aprc_half_to_float((unsigned short)(hi >> 16));
#else
#pragma unroll
  for (int i = 0; i < 4; ++i) out[i] = aprc_fp8e4m3_to_f32((uint8_t)((v >> (8 * i)) & 0xffu));
#endif
}

// Two floats as e4m3 codes, round to nearest even, saturating at +-448 (NaN stays NaN): `lo` in bits
// 0-7, `hi` in bits 8-15. Bit for bit aprc_f32_to_fp8e4m3 (blocks.h), which the host encoder uses too.
APRC_DEV unsigned aprc_pack_e4m3x2(float lo, float hi) {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return (unsigned)aprc_f32_to_fp8e4m3(lo) | (unsigned)aprc_f32_to_fp8e4m3(hi) << 8;
#endif
}

// The bf16 bits of an e4m3 code's value (exact).
APRC_DEV unsigned aprc_e4m3_to_bf16(unsigned code) { return aprc_as_uint(aprc_fp8e4m3_to_f32((uint8_t)code)) >> 16; }

// ---- the adapter -------------------------------------------------------------------------------------
// PER_CHANNEL: one scale per row (else one for the tensor). K must be a multiple of 16 (rows of whole
// 16-byte chunks; the code generator checks it), so that every chunk and the scales are aligned.
template <bool PER_CHANNEL>
struct aprc_w_fp8 {
  static constexpr bool MINS = false, INTX = false, MMA = true;
  static constexpr int CW = 16;
  const unsigned char* q;
  const unsigned char* scales;
  int K;
  struct Raw {
    uint4 v;
    float s;
  };
  APRC_DEV void init(const void* base, int N, int k) {
    q = (const unsigned char*)base;
    scales = q + (size_t)N * k;
    K = k;
  }
  APRC_DEV float scale(int row) const { return aprc_as_float(aprc_ldg4(scales + (PER_CHANNEL ? 4 * (size_t)row : 0))); }
  // The 16 codes of row `row` from column k (k a multiple of 16).
  APRC_DEV uint4 codes16(int row, int k) const { return aprc_ldg16(q + (size_t)row * K + k); }
  APRC_DEV void prefetch(int row0, int rows) const { aprc_prefetch_l2(q + (size_t)row0 * K, (unsigned)((size_t)rows * K)); }
  APRC_DEV Raw load(int row, int c) const {
    Raw r;
    r.v = codes16(row, 16 * c);
    r.s = scale(row);
    return r;
  }
  APRC_DEV void values(const Raw& r, float* out) const {
    const unsigned w[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) aprc_e4m3x4_to_floats(w[i], out + 4 * i);
#pragma unroll
    for (int i = 0; i < 16; ++i) out[i] *= r.s;
  }
  APRC_DEV float dot(const Raw& r, const float* x, float) const {
    const unsigned w[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float v[4];
      aprc_e4m3x4_to_floats(w[i], v);
#pragma unroll
      for (int j = 0; j < 4; ++j) s = fmaf(x[4 * i + j], v[j], s);
    }
    return s * r.s;
  }
  // 16 weights from column k0 + 16 h as bf16 pairs (exact), with the row's scale.
  APRC_DEV void decode16(int row, int k0, int h, unsigned* pairs, float& sc, float& mn) const {
    const uint4 v = codes16(row, k0 + 16 * h);
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const unsigned word = w[i >> 1] >> (16 * (i & 1));
      pairs[i] = aprc_e4m3_to_bf16(word & 0xffu) | aprc_e4m3_to_bf16((word >> 8) & 0xffu) << 16;
    }
    sc = scale(row);
    mn = 0.f;
  }
};

// ---- the FP8 tensor-core instruction -----------------------------------------------------------------
// d += a * b for a 16x8x32 tile of e4m3 codes, f32 accumulation (mma.sync m16n8k32 row.col). With
// g = lane / 4 and t = lane % 4, byte j of: a[0] = A[g][4t + j], a[1] = A[g + 8][4t + j],
// a[2] = A[g][16 + 4t + j], a[3] = A[g + 8][16 + 4t + j]; b[0] = B[k = 4t + j][n = g],
// b[1] = B[k = 16 + 4t + j][n = g]; d[0..1] = D[g][2t..2t+1], d[2..3] = D[g + 8][2t..2t+1].

// Sum of the products of the four codes of `a` and `b` (each product is exact in f32).
APRC_DEV float aprc_e4m3_dot4(unsigned a, unsigned b) {
  float x[4], y[4];
  aprc_e4m3x4_to_floats(a, x);
  aprc_e4m3x4_to_floats(b, y);
  return x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3];
}

APRC_DEV unsigned aprc_shfl_u32(unsigned v, int src_lane) { return aprc_as_uint(aprc_shfl(aprc_as_float(v), src_lane)); }

APRC_DEV void aprc_mma_e4m3_16832(float* d, const unsigned* a, const unsigned* b) {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  // The instruction's arithmetic from the warp's fragments: lane 4g + u holds rows g and g + 8 at
  // k = 4u.., 16 + 4u.. (A) and column g at the same k (B). Every lane takes part in every shuffle.
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  for (int u = 0; u < 4; ++u) {
    const int src_a = 4 * g + u;
    const unsigned a0 = aprc_shfl_u32(a[0], src_a), a1 = aprc_shfl_u32(a[1], src_a);
    const unsigned a2 = aprc_shfl_u32(a[2], src_a), a3 = aprc_shfl_u32(a[3], src_a);
    for (int c = 0; c < 2; ++c) {
      const int src_b = 4 * (2 * t + c) + u;
      const unsigned b0 = aprc_shfl_u32(b[0], src_b), b1 = aprc_shfl_u32(b[1], src_b);
      s[c] += aprc_e4m3_dot4(a0, b0) + aprc_e4m3_dot4(a2, b1);
      s[2 + c] += aprc_e4m3_dot4(a1, b0) + aprc_e4m3_dot4(a3, b1);
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) d[i] += s[i];
#endif
}

// ---- prefill on the FP8 tensor cores -----------------------------------------------------------------
// 64 tokens x 128 rows a block of 8 warps (warp w: tokens 32 (w / 4).., rows 32 (w % 4)..), K in steps
// of 32. Before the K loop, each token's 1/rms (when NORM), the largest |h| of its normalized row h and
// so its scale max|h| / 448 are found (one pass over the rows, 8 tokens a warp). Each step stages the
// two e4m3 terms of h times 1/scale (A hi and lo, 8 values a thread) and the weights' codes as they are
// (B, 16 bytes a thread and weight), then each warp runs 2 x 4 mma a weight and term: every hi product
// first, then every lo product, so that no mma waits on the one before it (both add into one
// accumulator). The next step's global loads are issued before this step's mma, into registers, and
// staged after them into the other of two shared buffers, so that one barrier a step suffices. 128
// rows a block halve the activation traffic per output of a 64-row tile (each block reads its 64 rows
// of x twice: once for the scales, once for the codes).

#define APRC_FP8_BM 64
#define APRC_FP8_BN 128
#define APRC_FP8_THREADS 256
#define APRC_FP8_LD 48  // bytes per staged row: 32 codes and 16 bytes of padding (conflict-free reads)

struct alignas(16) aprc_fp8_smem {
  // Two buffers (one step read by the mma while the next is written): a[buffer][hi, lo] holds the
  // activations' two terms, b[buffer][weight] the weights' codes.
  unsigned char a[2][2][APRC_FP8_BM * APRC_FP8_LD];
  unsigned char b[2][2][APRC_FP8_BN * APRC_FP8_LD];
  float a_rms[APRC_FP8_BM];    // 1/rms of the token's row (1 without NORM)
  float a_inv[APRC_FP8_BM];    // 1 / scale (0 for an all-zero row)
  float a_scale[APRC_FP8_BM];  // max|h| / 448
  float b_scale[2][APRC_FP8_BN];
};

// One 64x128 output tile: tokens [m0, m0+64) x rows [n0, n0+128) of M fp8 weights sharing x (w0, and
// w1 when M = 2, for SwiGLU). store(token, row, v[M]) gets the finished dot products. K % 32 == 0.
// h = (x * gamma) * (1/rms) when NORM, else x: the reference's rms_norm order in f32.
template <class W0, class W1, int M, int K, bool NORM, int GELEM, class Store>
APRC_DEV void aprc_fp8_mma_tile(const W0& w0, const W1& w1, int n0, int N, const float* x, int T, int m0,
                                const void* gamma, float eps, aprc_fp8_smem& sm, Store store) {
  static_assert(K % 32 == 0, "the FP8 tile steps K by 32");
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int wm = warp >> 2, wn = warp & 3;

  // Per token: 1/rms and the scale of its quantized row (warp w takes tokens w, w + 8, ...).
  for (int r = warp; r < APRC_FP8_BM; r += APRC_FP8_THREADS / 32) {
    const int tok = m0 + r;
    float ss = 0.f, big = 0.f;
    if (tok < T) {
      const float* row = x + (size_t)tok * K;
      for (int k = 4 * lane; k < K; k += 128) {
        const float4 v = aprc_ldf4(row + k);
        const float e[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          ss += e[i] * e[i];
          big = fmaxf(big, fabsf(NORM ? e[i] * aprc_vec<GELEM>(gamma, k + i) : e[i]));
        }
      }
    }
    ss = aprc_warp_sum(ss);
    big = aprc_warp_max(big);
    if (lane == 0) {
      const float rms = NORM ? 1.0f / sqrtf(ss / (float)K + eps) : 1.f;
      const float scale = (NORM ? big * rms : big) / 448.f;  // max|h|: multiplying by rms is monotonic
      sm.a_rms[r] = rms;
      sm.a_scale[r] = scale;
      sm.a_inv[r] = scale > 0.f ? 1.f / scale : 0.f;
    }
  }
  for (int i = tid; i < APRC_FP8_BN; i += APRC_FP8_THREADS) {
    const int row = aprc_min(n0 + i, N - 1);
    sm.b_scale[0][i] = w0.scale(row);
    if (M == 2) sm.b_scale[1][i] = w1.scale(row);
  }
  aprc_sync();

  float acc[M][2][4][4];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[m][i][j][e] = 0.f;

  // What this thread stages: 8 values (a quarter step) of token `arow_i`, and 16 codes of weight row
  // `brow_i` of each weight (half a step).
  const int arow_i = tid >> 2, aq = tid & 3;
  const int brow_i = tid >> 1, bh = tid & 1;
  const int am = m0 + arow_i;
  const bool alive = am < T;
  const float* arow = x + (size_t)aprc_min(am, T - 1) * K + 8 * aq;
  const int bn = aprc_min(n0 + brow_i, N - 1);
  const float a_rms = sm.a_rms[arow_i], a_inv = sm.a_inv[arow_i];

  float4 xa[2];
  uint4 wb[M];
  auto load = [&](int k0) {
    xa[0] = aprc_ldf4(arow + k0);
    xa[1] = aprc_ldf4(arow + k0 + 4);
    wb[0] = w0.codes16(bn, k0 + 16 * bh);
    if (M == 2) wb[M - 1] = w1.codes16(bn, k0 + 16 * bh);
  };
  // Stage the loaded step k0 into buffer `buf`: the activations' two terms, the weights' codes.
  auto stage = [&](int k0, int buf) {
    float h[8] = {xa[0].x, xa[0].y, xa[0].z, xa[0].w, xa[1].x, xa[1].y, xa[1].z, xa[1].w};
    if (NORM) {
#pragma unroll
      for (int i = 0; i < 8; ++i) h[i] = (h[i] * aprc_vec<GELEM>(gamma, k0 + 8 * aq + i)) * a_rms;
    }
    uint2 hi = {0u, 0u}, lo = {0u, 0u};
    if (alive) {
#pragma unroll
      for (int i = 0; i < 8; ++i) h[i] *= a_inv;
      hi.x = aprc_pack_e4m3x2(h[0], h[1]) | aprc_pack_e4m3x2(h[2], h[3]) << 16;
      hi.y = aprc_pack_e4m3x2(h[4], h[5]) | aprc_pack_e4m3x2(h[6], h[7]) << 16;
      float q[8];
      aprc_e4m3x4_to_floats(hi.x, q);
      aprc_e4m3x4_to_floats(hi.y, q + 4);
      lo.x = aprc_pack_e4m3x2(h[0] - q[0], h[1] - q[1]) | aprc_pack_e4m3x2(h[2] - q[2], h[3] - q[3]) << 16;
      lo.y = aprc_pack_e4m3x2(h[4] - q[4], h[5] - q[5]) | aprc_pack_e4m3x2(h[6] - q[6], h[7] - q[7]) << 16;
    }
    *(uint2*)(sm.a[buf][0] + arow_i * APRC_FP8_LD + 8 * aq) = hi;
    *(uint2*)(sm.a[buf][1] + arow_i * APRC_FP8_LD + 8 * aq) = lo;
#pragma unroll
    for (int m = 0; m < M; ++m) *(uint4*)(sm.b[buf][m] + brow_i * APRC_FP8_LD + 16 * bh) = wb[m];
  };
  load(0);
  stage(0, 0);
  aprc_sync();
  for (int k0 = 0, buf = 0; k0 < K; k0 += 32, buf ^= 1) {
    const bool more = k0 + 32 < K;
    if (more) load(k0 + 32);  // in flight during this step's mma

    unsigned b[M][4][2];
#pragma unroll
    for (int m = 0; m < M; ++m)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const unsigned char* col = sm.b[buf][m] + (wn * 32 + j * 8 + g) * APRC_FP8_LD + 4 * tq;
        b[m][j][0] = *(const unsigned*)col, b[m][j][1] = *(const unsigned*)(col + 16);
      }
#pragma unroll
    for (int term = 0; term < 2; ++term) {
      unsigned a[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const unsigned char* r0 = sm.a[buf][term] + (wm * 32 + i * 16 + g) * APRC_FP8_LD + 4 * tq;
        const unsigned char* r8 = r0 + 8 * APRC_FP8_LD;
        a[i][0] = *(const unsigned*)r0, a[i][1] = *(const unsigned*)r8;
        a[i][2] = *(const unsigned*)(r0 + 16), a[i][3] = *(const unsigned*)(r8 + 16);
      }
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int i = 0; i < 2; ++i) aprc_mma_e4m3_16832(acc[m][i][j], a[i], b[m][j]);
    }
    // The other buffer's readers finished at the last barrier; this step's finish at the next.
    if (more) stage(k0 + 32, buf ^ 1);
    aprc_sync();
  }

  aprc_mma_epilogue<M>(acc, wm, wn, g, tq, m0, T, n0, N,
                       [&](int m, float v, int r, int c) { return v * sm.a_scale[r] * sm.b_scale[m][c]; }, store);
}
