// aprc CUDA device library, part 3: the building blocks of Linear kernels. The generated kernel
// decides which weights, prologue and epilogue; these routines do the per-warp and per-tile work.
//
// Decode (matrix-vector, "gemv"): a block stages one activation row in shared memory (times gamma
// when the RMSNorm prologue is fused; the 1/rms factor is applied to the finished dot products), then
// each warp computes R rows of up to two weights that share the input: lane l reads chunk l, l+32, ...
// of each row (16 contiguous bytes each, so a warp load is one 512-byte run), the x values of a chunk
// are loaded once into registers and used for all R rows, and U chunks per row are in flight at once.
//
// Prefill (matrix-matrix, "mma"): 64 tokens x 64 weight rows a block of 4 warps, K in steps of 32.
// Activations go to shared memory as bf16 hi + lo pairs (x = hi + lo to 16 mantissa bits); weights
// are decoded to their small integer codes (exact in bf16) with a per-16-weight scale and an optional
// per-32 min. For each 16-deep step, tmp = A_hi*Q + A_lo*Q on the tensor cores (f32 accumulation),
// then acc += scale[n] * tmp; mins are applied as acc -= min[n] * sum_k(x). The result matches an f32
// computation to about 1e-5 relative.

#define APRC_XS_FLOATS(K) ((K) + 4 * (((K) + 31) / 32))

// Stages row x[0..K) into xs (padded, see aprc_pad32), times gamma when NORM, and the sums of x over
// each group of 32 into xsum when XSUM (K a multiple of 32). Returns 1/rms(x) when NORM, else 1.
template <int K, bool NORM, int GELEM, bool XSUM>
APRC_DEV float aprc_stage_row(const float* x, const void* gamma, float eps, float* xs, float* xsum,
                              float* scratch) {
  float ss = 0.f;
  if (K % 4 == 0) {
    for (int i = 4 * threadIdx.x; i < K; i += 4 * blockDim.x) {
      float4 v = aprc_ldf4(x + i);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      if (NORM) {
        v.x *= aprc_vec<GELEM>(gamma, i);
        v.y *= aprc_vec<GELEM>(gamma, i + 1);
        v.z *= aprc_vec<GELEM>(gamma, i + 2);
        v.w *= aprc_vec<GELEM>(gamma, i + 3);
      }
      *(float4*)(xs + aprc_pad32(i)) = v;
    }
  } else {
    for (int i = threadIdx.x; i < K; i += blockDim.x) {
      float v = x[i];
      ss += v * v;
      if (NORM) v *= aprc_vec<GELEM>(gamma, i);
      xs[aprc_pad32(i)] = v;
    }
  }
  if (XSUM) {
    aprc_sync();
    for (int c = threadIdx.x; c < K / 32; c += blockDim.x) {
      const float* p = xs + 36 * c;
      float s = 0.f;
      for (int i = 0; i < 32; ++i) s += p[i];
      xsum[c] = s;
    }
  }
  float inv = 1.f;
  if (NORM) {
    const float total = aprc_block_sum(ss, scratch);  // includes barriers
    inv = 1.0f / sqrtf(total / (float)K + eps);
  } else {
    aprc_sync();
  }
  return inv;
}

// The staged activation row of a decode kernel, in dynamic shared memory: the float row (padded, see
// aprc_pad32) when a float-format weight reads it, and the int8 split (aprc_xq) of each 32-chunk when a
// quantized one does: 6 planes of nq uint4 (digit v, groups 0-3 / 4-7, so lanes reading consecutive
// chunks hit distinct banks), then a float4 a chunk: the scale, the sums of x over groups 0-3 and 4-7
// and over the chunk.
struct aprc_xstage {
  float* xs;
  uint4* xq;
  float4* xstat;
  int nq;
};

// Carves the staging buffers out of dynamic shared memory (FLOATX: the float row too).
APRC_DEV aprc_xstage aprc_xstage_at(void* smem, int K, bool floatx) {
  aprc_xstage st;
  char* p = (char*)smem;
  st.nq = K / 32;
  st.xs = (float*)p;
  if (floatx) p += 4 * APRC_XS_FLOATS(K);
  st.xq = (uint4*)p;
  p += 96 * st.nq;
  st.xstat = (float4*)p;
  return st;
}

// Stages row x (times gamma when NORM) as the three-digit int8 split per 32 (and the float row when
// FLOATX); K is a multiple of 32. Eight threads share a chunk, thread g taking group g (layouts.h), so
// the whole block works on it. Returns 1/rms(x) when NORM, else 1.
template <int K, bool NORM, int GELEM, bool FLOATX, int NT>
APRC_DEV float aprc_stage_row_q(const float* x, const void* gamma, float eps, const aprc_xstage& st, float* scratch) {
  constexpr int NQ = K / 32, ITEMS = NQ * 8, ITER = (ITEMS + NT - 1) / NT, BATCH = ITER > 4 ? 8 : 4;
  float ss = 0.f;
  for (int b0 = 0; b0 < ITER; b0 += BATCH) {  // uniform trip counts: the shuffles need full warps
    float v[BATCH][4];
#pragma unroll
    for (int bi = 0; bi < BATCH; ++bi) {  // every load of the batch first, then the arithmetic
      const int idx = (b0 + bi) * NT + threadIdx.x;
      const int c = idx < ITEMS ? idx >> 3 : NQ - 1, g = idx & 7;
      // group g's elements 8 (g / 2) + g % 2 + 2j: every other float of 8 (two 16-byte loads, the
      // other half is the neighbouring thread's group)
      const int i0 = 32 * c + 8 * (g >> 1), odd = g & 1;  // element j is i0 + odd + 2j
      float4 lo = make_float4(0.f, 0.f, 0.f, 0.f), hi = lo;
      if (b0 + bi < ITER) lo = aprc_ldf4(x + i0), hi = aprc_ldf4(x + i0 + 4);
      v[bi][0] = odd ? lo.y : lo.x;
      v[bi][1] = odd ? lo.w : lo.z;
      v[bi][2] = odd ? hi.y : hi.x;
      v[bi][3] = odd ? hi.w : hi.z;
      if (NORM && b0 + bi < ITER) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (idx < ITEMS) ss += v[bi][j] * v[bi][j];
          v[bi][j] *= aprc_vec<GELEM>(gamma, i0 + odd + 2 * j);
        }
      }
    }
#pragma unroll
    for (int bi = 0; bi < BATCH; ++bi) {
      if (b0 + bi >= ITER) break;
      const int idx = (b0 + bi) * NT + threadIdx.x;
      const bool live = idx < ITEMS;
      const int c = live ? idx >> 3 : NQ - 1, g = idx & 7;
      float amax = 0.f, half = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (FLOATX && live) st.xs[aprc_pad32(32 * c + 8 * (g >> 1) + 2 * j + (g & 1))] = v[bi][j];
        amax = fmaxf(amax, fabsf(v[bi][j]));
        half += v[bi][j];
      }
      for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, aprc_shfl_xor(amax, m));
      half += aprc_shfl_xor(half, 1);
      half += aprc_shfl_xor(half, 2);  // sum over groups 0-3 (threads g < 4) or 4-7
      const float other = aprc_shfl_xor(half, 4);
      // X = round(x * 127 * 2^16 / amax), |X| <= 127 * 2^16 (+1), in balanced base-256 digits:
      // X = 2^16 a + 2^8 b + e with a, b, e in [-128, 127], so x = scale * (a + b / 2^8 + e / 2^16)
      // to 23 bits. In X + 0x808080 = 2^16 (a + 128) + 2^8 (b + 128) + (e + 128) every coefficient is in
      // [0, 255], so byte 2 is a + 128, byte 1 b + 128 and byte 0 e + 128: digit level lv (a, b, e) is
      // byte 2 - lv with its top bit flipped.
      const float scale = amax * (1.f / 127.f), to_int = amax > 0.f ? 8323072.f * aprc_rcp(amax) : 0.f;
      unsigned y[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) y[j] = (unsigned)(aprc_float_to_int_rn(v[bi][j] * to_int) + 0x808080);
      if (live) {
        unsigned* words = (unsigned*)st.xq;
#pragma unroll
        for (int lv = 0; lv < 3; ++lv)
          words[((2 * lv + (g >> 2)) * NQ + c) * 4 + (g & 3)] = aprc_gather_byte(y[0], y[1], y[2], y[3], 2 - lv) ^ 0x80808080u;
        if (g == 0) st.xstat[c] = make_float4(scale, half, other, half + other);
      }
    }
  }
  float inv_rms = 1.f;
  // the barrier that makes the staged row visible also publishes the warps' sums of squares (the
  // decode kernel's token loop ends with a barrier, so scratch is free here and until the next one)
  if (NORM) inv_rms = 1.0f / sqrtf(aprc_block_sum_once(ss, scratch) / (float)K + eps);
  else aprc_sync();
  return inv_rms;
}

APRC_DEV aprc_xq aprc_load_xq(const aprc_xstage& st, int c) {
  aprc_xq x;
#pragma unroll
  for (int lv = 0; lv < 3; ++lv) {
    const uint4 a = st.xq[(2 * lv) * st.nq + c], b = st.xq[(2 * lv + 1) * st.nq + c];
    x.q[lv][0] = a.x, x.q[lv][1] = a.y, x.q[lv][2] = a.z, x.q[lv][3] = a.w;
    x.q[lv][4] = b.x, x.q[lv][5] = b.y, x.q[lv][6] = b.z, x.q[lv][7] = b.w;
  }
  const float4 t = st.xstat[c];
  x.s = t.x, x.xh[0] = t.y, x.xh[1] = t.z, x.xsum = t.w;
  return x;
}

// One chunk's dot product, integer or float by the adapter's kind.
template <class W>
APRC_DEV float aprc_wdot(const W& w, const typename W::Raw& r, const aprc_xq& xq, const float* xr) {
  if constexpr (W::INTX) return w.dotq(r, xq);
  else return w.dot(r, xr, 0.f);
}

// acc[m][r] = dot(row row0 + r of weight m, staged x) for r < nrows <= R (weight 0 is w0, weight 1 is
// w1; both have the same chunk width), summed over the warp: every lane gets the sums. Rows past
// `nrows` are neither read nor computed (acc 0).
template <class W0, class W1, int M, int R, int U>
APRC_DEV void aprc_gemv_rows(const W0& w0, const W1& w1, int row0, int nrows, int nch, const aprc_xstage& st,
                             float (&acc)[M][R]) {
  static_assert(M == 1 || W0::CW == W1::CW, "weights sharing a gemv need one chunk width");
  constexpr int CW = W0::CW;
  constexpr bool INT = W0::INTX || (M == 2 && W1::INTX);
  constexpr bool FLT = !W0::INTX || (M == 2 && !W1::INTX);
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.f;
  // a short last step of a warp's rows (nrows < R, the same in every lane) skips the missing rows
  for (int c0 = 0; c0 < nch; c0 += 32 * U) {
    typename W0::Raw raw0[U][R];
    typename W1::Raw raw1[U][R];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + 32 * u + lane;
      if (c < nch) {
#pragma unroll
        for (int r = 0; r < R; ++r)
          if (r == 0 || r < nrows) {
            raw0[u][r] = w0.load(row0 + r, c);
            if (M == 2) raw1[u][r] = w1.load(row0 + r, c);
          }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + 32 * u + lane;
      if (c < nch) {
        aprc_xq xq;
        float xr[CW];
        if (INT) xq = aprc_load_xq(st, (c * CW) >> 5);
        if (FLT) {
          const float* xp = st.xs + aprc_pad32(c * CW);
          if (CW % 4 == 0) {
#pragma unroll
            for (int i = 0; i < CW; i += 4) {
              const float4 v = aprc_ldf4(xp + i);
              xr[i] = v.x, xr[i + 1] = v.y, xr[i + 2] = v.z, xr[i + 3] = v.w;
            }
          } else {
#pragma unroll
            for (int i = 0; i < CW; ++i) xr[i] = xp[i];
          }
        }
#pragma unroll
        for (int r = 0; r < R; ++r)
          if (r == 0 || r < nrows) {
            acc[0][r] += aprc_wdot(w0, raw0[u][r], xq, xr);
            if (M == 2) acc[M - 1][r] += aprc_wdot(w1, raw1[u][r], xq, xr);
          }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = aprc_warp_sum(acc[m][r]);
}

// Rows [row_b, row_e) of weights w0 (and w1 when M = 2) against the staged x, in steps of R rows (the
// last step may have fewer), calling store(row0, nrows, acc) after each step with the warp's sums
// (every lane has them). nch counts w0's chunks; a SwiGLU pair of two chunk widths takes its two
// weights one after the other.
template <class W0, class W1, int M, int R, int U, class Store>
APRC_DEV void aprc_gemv_steps(const W0& w0, const W1& w1, int row_b, int row_e, int nch, const aprc_xstage& st,
                              Store store) {
  for (int row0 = row_b; row0 < row_e; row0 += R) {
    const int nrows = aprc_min(R, row_e - row0);
    float acc[M][R];
    if constexpr (M == 2 && W0::CW != W1::CW) {
      float a0[1][R], a1[1][R];
      aprc_gemv_rows<W0, W0, 1, R, U>(w0, w0, row0, nrows, nch, st, a0);
      aprc_gemv_rows<W1, W1, 1, R, U>(w1, w1, row0, nrows, nch * W0::CW / W1::CW, st, a1);
#pragma unroll
      for (int r = 0; r < R; ++r) acc[0][r] = a0[0][r], acc[1][r] = a1[0][r];
    } else {
      aprc_gemv_rows<W0, W1, M, R, U>(w0, w1, row0, nrows, nch, st, acc);
    }
    store(row0, nrows, acc);
  }
}

// This warp's share of `rows` rows split over `warps` warps: contiguous, sizes differ by at most one.
APRC_DEV void aprc_warp_rows(int warp, int warps, int rows, int& b, int& e) {
  const int q = rows / warps, rem = rows % warps;
  b = warp * q + aprc_min(warp, rem);
  e = b + q + (warp < rem ? 1 : 0);
}

APRC_DEV float aprc_silu(float g) { return g / (1.0f + expf(-g)); }

// ---- prefill on the tensor cores ---------------------------------------------------------------------

#define APRC_MMA_BM 64
#define APRC_MMA_BN 64
#define APRC_MMA_LD 20  // words per staged row: 32 bf16 = 16 words, plus 4 words of padding

struct alignas(16) aprc_mma_smem {
  unsigned a_hi[APRC_MMA_BM * APRC_MMA_LD];
  unsigned a_lo[APRC_MMA_BM * APRC_MMA_LD];
  unsigned b[2][APRC_MMA_BN * APRC_MMA_LD];
  float b_scale[2][APRC_MMA_BN][2];
  float b_min[2][APRC_MMA_BN];
  float a_sum[APRC_MMA_BM];
  float a_inv[APRC_MMA_BM];
};

// One 64x64 output tile: tokens [m0, m0+64) x rows [n0, n0+64) of M weights sharing x (w0, and w1
// when M = 2, for SwiGLU). store(token, row, v[M]) gets the finished dot products (times 1/rms when
// NORM).
// The accumulators of a warp of the 64-token tiles (mma fragments: warp wm, wn; lane g, tq) to
// outputs: scale(m, v, r, c) turns accumulator v of weight m at tile token r, tile row c into its
// value; store(tok, row, values) writes the M values of one output. Both tensor-core tiles end so.
template <int M, class Scale, class Store>
APRC_DEV void aprc_mma_epilogue(const float (&acc)[M][2][4][4], int wm, int wn, int g, int tq, int m0, int T, int n0,
                                int N, Scale scale, Store store) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = wm * 32 + i * 16 + g + (e >= 2 ? 8 : 0);
        const int c = wn * 32 + j * 8 + 2 * tq + (e & 1);
        const int tok = m0 + r, row = n0 + c;
        if (tok < T && row < N) {
          float v[M];
#pragma unroll
          for (int m = 0; m < M; ++m) v[m] = scale(m, acc[m][i][j][e], r, c);
          store(tok, row, v);
        }
      }
}

template <class W0, class W1, int M, int K, bool NORM, int GELEM, class Store>
APRC_DEV void aprc_mma_tile(const W0& w0, const W1& w1, int n0, int N, const float* x, int T, int m0, const void* gamma,
                            float eps, aprc_mma_smem& sm, Store store) {
  constexpr bool MINS = W0::MINS || (M == 2 && W1::MINS);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int wm = warp >> 1, wn = warp & 1;
  const int srow = tid >> 1, shalf = tid & 1;  // the row and half this thread stages
  float acc[M][2][4][4];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[m][i][j][e] = 0.f;
  float ss = 0.f;
  const int am = m0 + srow;
  const int bn = aprc_min(n0 + srow, N - 1);

  for (int k0 = 0; k0 < K; k0 += 32) {
    // Stage A: 16 activations of row `am`, as bf16 hi/lo pairs.
    {
      float a[16];
      if (am < T) {
        const float* src = x + (size_t)am * K + k0 + 16 * shalf;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float4 v = aprc_ldf4(src + 4 * i);
          a[4 * i] = v.x, a[4 * i + 1] = v.y, a[4 * i + 2] = v.z, a[4 * i + 3] = v.w;
        }
      } else {
#pragma unroll
        for (int i = 0; i < 16; ++i) a[i] = 0.f;
      }
      float asum = 0.f;
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        if (NORM) {
          ss += a[i] * a[i];
          a[i] *= aprc_vec<GELEM>(gamma, k0 + 16 * shalf + i);
        }
        asum += a[i];
      }
      unsigned hi[8], lo[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) aprc_split_bf16x2(a[2 * i], a[2 * i + 1], hi[i], lo[i]);
      uint4* dh = (uint4*)(sm.a_hi + srow * APRC_MMA_LD + 8 * shalf);
      uint4* dl = (uint4*)(sm.a_lo + srow * APRC_MMA_LD + 8 * shalf);
      dh[0] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
      dh[1] = make_uint4(hi[4], hi[5], hi[6], hi[7]);
      dl[0] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
      dl[1] = make_uint4(lo[4], lo[5], lo[6], lo[7]);
      if (MINS) {
        asum += aprc_shfl_xor(asum, 1);
        if (shalf == 0) sm.a_sum[srow] = asum;
      }
    }
    // Stage B: 16 weights of row `bn` of each matrix.
#pragma unroll
    for (int m = 0; m < M; ++m) {
      unsigned p[8];
      float scale, mn;
      if (m == 0) w0.decode16(bn, k0, shalf, p, scale, mn);
      else w1.decode16(bn, k0, shalf, p, scale, mn);
      uint4* d = (uint4*)(sm.b[m] + srow * APRC_MMA_LD + 8 * shalf);
      d[0] = make_uint4(p[0], p[1], p[2], p[3]);
      d[1] = make_uint4(p[4], p[5], p[6], p[7]);
      sm.b_scale[m][srow][shalf] = scale;
      if (shalf == 0) sm.b_min[m][srow] = mn;
    }
    aprc_sync();

#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
      unsigned ahi[2][4], alo[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int r = wm * 32 + i * 16 + g;
        const int o0 = r * APRC_MMA_LD + kk * 8 + tq, o1 = (r + 8) * APRC_MMA_LD + kk * 8 + tq;
        ahi[i][0] = sm.a_hi[o0], ahi[i][1] = sm.a_hi[o1], ahi[i][2] = sm.a_hi[o0 + 4], ahi[i][3] = sm.a_hi[o1 + 4];
        alo[i][0] = sm.a_lo[o0], alo[i][1] = sm.a_lo[o1], alo[i][2] = sm.a_lo[o0 + 4], alo[i][3] = sm.a_lo[o1 + 4];
      }
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int n = wn * 32 + j * 8 + g;
          const unsigned b[2] = {sm.b[m][n * APRC_MMA_LD + kk * 8 + tq], sm.b[m][n * APRC_MMA_LD + kk * 8 + 4 + tq]};
          const int c = wn * 32 + j * 8 + 2 * tq;
          const float s0 = sm.b_scale[m][c][kk], s1 = sm.b_scale[m][c + 1][kk];
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            float t[4] = {0.f, 0.f, 0.f, 0.f};
            aprc_mma_bf16_16816(t, ahi[i], b);
            aprc_mma_bf16_16816(t, alo[i], b);
            acc[m][i][j][0] += s0 * t[0];
            acc[m][i][j][1] += s1 * t[1];
            acc[m][i][j][2] += s0 * t[2];
            acc[m][i][j][3] += s1 * t[3];
          }
        }
    }
    if (MINS) {
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int c = wn * 32 + j * 8 + 2 * tq;
          const float n0v = sm.b_min[m][c], n1v = sm.b_min[m][c + 1];
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            const int r = wm * 32 + i * 16 + g;
            const float s0 = sm.a_sum[r], s8 = sm.a_sum[r + 8];
            acc[m][i][j][0] -= n0v * s0;
            acc[m][i][j][1] -= n1v * s0;
            acc[m][i][j][2] -= n0v * s8;
            acc[m][i][j][3] -= n1v * s8;
          }
        }
    }
    aprc_sync();
  }

  if (NORM) {
    ss += aprc_shfl_xor(ss, 1);
    if (shalf == 0) sm.a_inv[srow] = 1.0f / sqrtf(ss / (float)K + eps);
    aprc_sync();
  }
  aprc_mma_epilogue<M>(acc, wm, wn, g, tq, m0, T, n0, N,
                       [&](int, float v, int r, int) { return NORM ? v * sm.a_inv[r] : v; }, store);
}

// ---- prefill without tensor cores (weights that are not exact in bf16, or rows of any length) ----------
// 64 tokens x 64 rows a block of 256 threads, each thread 4 x 4 outputs, K in steps of 16. Weights are
// read one value at a time (aprc_weight_elem): a correct fallback, not a fast path.

struct alignas(16) aprc_simt_smem {
  float a[16][APRC_MMA_BM + 4];
  float b[2][16][APRC_MMA_BN + 4];
  float a_inv[APRC_MMA_BM];
};

template <class W0, class W1, int M, int K, bool NORM, int GELEM, class Store>
APRC_DEV void aprc_simt_tile(const W0& w0, const W1& w1, int n0, int N, const float* x, int T, int m0,
                             const void* gamma, float eps, aprc_simt_smem& sm, Store store) {
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int lr = tid >> 2, lk = (tid & 3) * 4;  // load row and first k of this thread
  float acc[M][4][4];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[m][i][j] = 0.f;
  float ss = 0.f;
  const int am = m0 + lr;
  const int bn = aprc_min(n0 + lr, N - 1);
  for (int k0 = 0; k0 < K; k0 += 16) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int k = k0 + lk + q;
      float a = (am < T && k < K) ? x[(size_t)am * K + k] : 0.f;
      if (NORM) {
        ss += a * a;
        if (k < K) a *= aprc_vec<GELEM>(gamma, k);
      }
      sm.a[lk + q][lr] = a;
      sm.b[0][lk + q][lr] = k < K ? aprc_weight_elem(w0, bn, k) : 0.f;
      if (M == 2) sm.b[1][lk + q][lr] = k < K ? aprc_weight_elem(w1, bn, k) : 0.f;
    }
    aprc_sync();
#pragma unroll
    for (int k = 0; k < 16; ++k) {
      float av[4], bv[M][4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = sm.a[k][ty * 4 + i];
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int j = 0; j < 4; ++j) bv[m][j] = sm.b[m][k][tx * 4 + j];
#pragma unroll
      for (int m = 0; m < M; ++m)
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[m][i][j] = fmaf(av[i], bv[m][j], acc[m][i][j]);
    }
    aprc_sync();
  }
  if (NORM) {
    ss += aprc_shfl_xor(ss, 1);
    ss += aprc_shfl_xor(ss, 2);
    if ((tid & 3) == 0) sm.a_inv[lr] = 1.0f / sqrtf(ss / (float)K + eps);
    aprc_sync();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int tok = m0 + ty * 4 + i, row = n0 + tx * 4 + j;
      if (tok < T && row < N) {
        const float inv = NORM ? sm.a_inv[ty * 4 + i] : 1.f;
        float v[M];
#pragma unroll
        for (int m = 0; m < M; ++m) v[m] = acc[m][i][j] * inv;
        store(tok, row, v);
      }
    }
}
