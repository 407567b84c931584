// aprc CUDA device library, part 4: the row-wise ops (RMSNorm, RoPE, KV-cache append, attention,
// embedding, elementwise). KV caches are [context, kv_heads * head_dim] rows of f32, f16 or bf16
// (CELEM 0, 1, 2), one pair (k, v) a layer; position p is row p.

APRC_DEV unsigned short aprc_f32_to_f16_bits(float f) {
#if !defined(APRC_EMU)
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  return aprc_emu_f32_to_f16(f);
#endif
}

template <int CELEM>
APRC_DEV float aprc_cache_load(const void* c, size_t i) {
  if (CELEM == 0) return ((const float*)c)[i];
  const unsigned short h = ((const unsigned short*)c)[i];
  return CELEM == 1 ? aprc_half_to_float(h) : aprc_bf16_to_float(h);
}

// The 16 bits a half cache (CELEM 1: f16, 2: bf16) holds for v.
template <int CELEM>
APRC_DEV unsigned short aprc_cache_half_bits(float v) {
  return CELEM == 1 ? aprc_f32_to_f16_bits(v) : (unsigned short)(aprc_pack_bf16x2(v, 0.f) & 0xffffu);
}

template <int CELEM>
APRC_DEV void aprc_cache_store(void* c, size_t i, float v) {
  if (CELEM == 0) ((float*)c)[i] = v;
  else ((unsigned short*)c)[i] = aprc_cache_half_bits<CELEM>(v);
}

// v as the cache holds it (what aprc_cache_load of a stored v returns).
template <int CELEM>
APRC_DEV float aprc_cache_rounded(float v) {
  if (CELEM == 0) return v;
  const unsigned short h = aprc_cache_half_bits<CELEM>(v);
  return CELEM == 1 ? aprc_half_to_float(h) : aprc_bf16_to_float(h);
}

// ---- RMSNorm of one row (the block) -------------------------------------------------------------------
template <int H, int GELEM>
APRC_DEV void aprc_rms_norm_row(const float* x, const void* gamma, float eps, float* out, float* scratch) {
  float ss = 0.f;
  for (int i = threadIdx.x; i < H; i += blockDim.x) ss += x[i] * x[i];
  const float inv = 1.0f / sqrtf(aprc_block_sum(ss, scratch) / (float)H + eps);
  for (int i = threadIdx.x; i < H; i += blockDim.x) out[i] = x[i] * inv * aprc_vec<GELEM>(gamma, i);
}

// ---- RoPE (NeoX, rotate-half): pair (i, i + hd/2) turns by p * inv_freq[i], inv_freq[i] = theta^(-2i/hd)
// (a table the kernel gets, computed in double by the code generator). The angle is formed and reduced
// modulo 2*pi in double, then sin/cos are taken in float on [-pi, pi]: about 1e-7 from exact.
APRC_DEV void aprc_rope_angle(int p, double inv_freq, float& c, float& s) {
  const double ang = (double)p * inv_freq;
  const double n = rint(ang * 0.15915494309189535);  // 1 / (2 pi)
  const double r = fma(-n, 1.2246467991473532e-16, fma(-n, 6.283185307179586, ang));  // 2 pi = hi + lo
  sincosf((float)r, &s, &c);
}

// Rotates pair (i, i + half) of head row v by the angle with cosine c and sine s, in place; y0, y1 get
// the rotated values (for a cache row).
APRC_DEV void aprc_rope_rotate(float* v, int i, int half, float c, float s, float& y0, float& y1) {
  const float x0 = v[i], x1 = v[i + half];
  y0 = x0 * c - x1 * s;
  y1 = x1 * c + x0 * s;
  v[i] = y0;
  v[i + half] = y1;
}

// Element d of a head row rotated with the angles cs / sn of aprc_rope_angles (the value
// aprc_rope_rotate gives it), from x = row[d] and its pair's value row[aprc_rope_pair(d, half)].
APRC_DEV int aprc_rope_pair(int d, int half) { return d < half ? d + half : d - half; }
APRC_DEV float aprc_rope_element(float x, float pair, int d, int half, const float* cs, const float* sn) {
  return d < half ? x * cs[d] - pair * sn[d] : x * cs[d - half] + pair * sn[d - half];
}

template <int HEADS, int HD>
APRC_DEV void aprc_rope_row(float* row, int p, const double* inv_freq) {
  for (int idx = threadIdx.x; idx < HEADS * HD / 2; idx += blockDim.x) {
    const int h = idx / (HD / 2), i = idx % (HD / 2);
    float c, s, y0, y1;
    aprc_rope_angle(p, inv_freq[i], c, s);
    aprc_rope_rotate(row + h * HD, i, HD / 2, c, s, y0, y1);
  }
}

// k, v: one token's rows; writes them into cache row p (k rotated first when ROPE, and written back).
template <int KVH, int HD, bool ROPE, int CELEM>
APRC_DEV void aprc_kv_append_row(float* k, const float* v, void* ck, void* cv, int p, const double* inv_freq) {
  const size_t base = (size_t)p * KVH * HD;
  for (int idx = threadIdx.x; idx < KVH * HD / 2; idx += blockDim.x) {
    const int h = idx / (HD / 2), i = idx % (HD / 2);
    float* kh = k + h * HD;
    float y0 = kh[i], y1 = kh[i + HD / 2];
    if (ROPE) {
      float c, s;
      aprc_rope_angle(p, inv_freq[i], c, s);
      aprc_rope_rotate(kh, i, HD / 2, c, s, y0, y1);
    }
    aprc_cache_store<CELEM>(ck, base + h * HD + i, y0);
    aprc_cache_store<CELEM>(ck, base + h * HD + i + HD / 2, y1);
  }
  for (int idx = threadIdx.x; idx < KVH * HD; idx += blockDim.x) aprc_cache_store<CELEM>(cv, base + idx, v[idx]);
}

// The angles of position p, once per frequency (HD / 2 of them), into cs / sn (shared memory; the
// caller syncs before reading them). They depend on the position only, so a kernel computes them
// before it waits for the previous one.
template <int HD>
APRC_DEV void aprc_rope_angles(int p, const double* inv_freq, float* cs, float* sn) {
  for (int i = threadIdx.x; i < HD / 2; i += blockDim.x) aprc_rope_angle(p, inv_freq[i], cs[i], sn[i]);
}

// One token: q (HEADS heads) and k (KVH heads) rotated in place with the angles of aprc_rope_angles
// (the same products as aprc_rope_row and aprc_kv_append_row, so the same values), and the rotated k
// and v written into cache row p. A thread takes one (head, frequency) pair at a time, q's heads
// first, then k's.
template <int HEADS, int KVH, int HD, int CELEM>
APRC_DEV void aprc_rope_qk_kv_append_row(float* q, float* k, const float* v, void* ck, void* cv, int p, const float* cs,
                                         const float* sn) {
  constexpr int HALF = HD / 2, PAIRS = (HEADS + KVH) * HALF;
  const size_t base = (size_t)p * KVH * HD;
  for (int idx = threadIdx.x; idx < PAIRS; idx += blockDim.x) {
    const int h = idx / HALF, i = idx % HALF;
    const bool is_k = h >= HEADS;
    float y0, y1;
    aprc_rope_rotate(is_k ? k + (h - HEADS) * HD : q + h * HD, i, HALF, cs[i], sn[i], y0, y1);
    if (is_k) {
      aprc_cache_store<CELEM>(ck, base + (h - HEADS) * HD + i, y0);
      aprc_cache_store<CELEM>(ck, base + (h - HEADS) * HD + i + HALF, y1);
    }
  }
  for (int idx = threadIdx.x; idx < KVH * HD; idx += blockDim.x) aprc_cache_store<CELEM>(cv, base + idx, v[idx]);
}

// ---- attention --------------------------------------------------------------------------------------
// One block of 4 warps takes one kv head, QT consecutive query tokens (t0 ..) and a range of cache rows
// [k0, k1). It stages 32 keys and values at a time in shared memory (16-byte loads, all issued before
// any is stored) and shares them among the G query heads of the kv head and the QT tokens; each warp
// runs the online softmax (flash attention) of some (token, head) pairs, lane j scoring key j. Token t
// sees rows up to pos + t (causal). Decode (QT = 1) cuts the keys into S splits whose partials the
// last block combines; prefill takes all keys of its tokens and writes the output directly.

template <int H, int KVH, int HD, int QT>
struct aprc_attn_smem {
  static constexpr int G = H / KVH, HP = HD + 1;
  float q[QT * G][HD];
  float k[32][HP];  // padded: lane j reads row j without bank conflicts
  float v[32][HD];
};

// A tile of 32 cache rows in flight: the 16-byte loads of this thread, issued by aprc_kv_tile_load and
// written to shared memory by aprc_kv_tile_store, so that other loads can be issued in between.
template <int HD, int CE, int THREADS>
struct aprc_kv_tile_regs {
  static constexpr int VEC = CE == 0 ? 4 : 8;  // values a 16-byte load
  static constexpr int PER_ROW = HD / VEC;     // HD is a multiple of VEC (checked by the code generator)
  static constexpr int TOTAL = 32 * PER_ROW, ITER = (TOTAL + THREADS - 1) / THREADS;
  uint4 k[ITER], v[ITER];
};

// aprc_kv_tile_clear zeroes a tile; aprc_kv_tile_load loads rows kb + j of kv head kvh for j in
// [j0, j1) (j1 <= 32) and leaves the other entries as they are.
template <int KVH, int HD, int CE, int THREADS>
APRC_DEV void aprc_kv_tile_clear(aprc_kv_tile_regs<HD, CE, THREADS>& r) {
#pragma unroll
  for (int it = 0; it < r.ITER; ++it) r.k[it] = r.v[it] = make_uint4(0u, 0u, 0u, 0u);
}
template <int KVH, int HD, int CE, int THREADS>
APRC_DEV void aprc_kv_tile_load(const void* ck, const void* cv, int kvh, int kb, int j0, int j1,
                                aprc_kv_tile_regs<HD, CE, THREADS>& r) {
  using R = aprc_kv_tile_regs<HD, CE, THREADS>;
#pragma unroll
  for (int it = 0; it < R::ITER; ++it) {
    const int idx = threadIdx.x + it * THREADS, j = idx / R::PER_ROW, e = idx % R::PER_ROW;
    if (idx < R::TOTAL && j >= j0 && j < j1) {
      const size_t at = ((size_t)(kb + j) * KVH * HD + (size_t)kvh * HD + e * R::VEC) * (CE == 0 ? 4 : 2);
      r.k[it] = aprc_ldg16((const unsigned char*)ck + at);
      r.v[it] = aprc_ldg16((const unsigned char*)cv + at);
    }
  }
}

// Stores every row of the tile but `skip` (-1: none), whose entries someone else writes.
template <int HD, int CE, int THREADS, class Smem>
APRC_DEV void aprc_kv_tile_store(const aprc_kv_tile_regs<HD, CE, THREADS>& r, Smem& sm, int skip = -1) {
  using R = aprc_kv_tile_regs<HD, CE, THREADS>;
#pragma unroll
  for (int it = 0; it < R::ITER; ++it) {
    const int idx = threadIdx.x + it * THREADS, j = idx / R::PER_ROW, e = idx % R::PER_ROW;
    if (idx < R::TOTAL && j != skip) {
      const unsigned kw[4] = {r.k[it].x, r.k[it].y, r.k[it].z, r.k[it].w}, vw[4] = {r.v[it].x, r.v[it].y, r.v[it].z, r.v[it].w};
#pragma unroll
      for (int c = 0; c < R::VEC; ++c) {
        float kf, vf;
        if (CE == 0) {
          kf = aprc_as_float(kw[c]);
          vf = aprc_as_float(vw[c]);
        } else {
          const unsigned short kh = (unsigned short)(kw[c >> 1] >> (16 * (c & 1))), vh = (unsigned short)(vw[c >> 1] >> (16 * (c & 1)));
          kf = CE == 1 ? aprc_half_to_float(kh) : aprc_bf16_to_float(kh);
          vf = CE == 1 ? aprc_half_to_float(vh) : aprc_bf16_to_float(vh);
        }
        sm.k[j][e * R::VEC + c] = kf;
        sm.v[j][e * R::VEC + c] = vf;
      }
    }
  }
}

// Decode workspace (for a call of T tokens): a counter of finished splits per (token, kv head), then the
// partials per (token, head, split): m, l, o[HD]. Counters start at zero and the last block resets its
// own, so the workspace is clean after every call.
APRC_DEV unsigned* aprc_attn_counter(unsigned char* ws, int KVH, int t, int kvh) { return (unsigned*)ws + (size_t)t * KVH + kvh; }
APRC_DEV float* aprc_attn_partial(unsigned char* ws, int H, int HD, int S, int T, int t, int h, int split) {
  float* base = (float*)(ws + (((size_t)T * H * 4 + 255) & ~(size_t)255));
  return base + (((size_t)t * H + h) * S + split) * (HD + 2);
}

// Keys a decode split takes at least (fewer splits below S * this many keys, so each block has work).
#define APRC_ATTN_SPLIT_MIN_KEYS 16

// The decode attention of one token that also does aprc_rope_qk_kv_append's work (ROPE): q and k
// rotated with the angles cs / sn of the token's position (shared memory, synced), k and v appended
// at that position. The block whose split holds the token's own row rotates k and writes the row
// into the cache, into its tile and (rotated k) back into k; nobody else reads that row in this
// call. Every block reads q unrotated, so the last block of each kv head, which runs after all the
// others, writes the rotated q back. One token a call only: a second token would read a row that
// another block appends.
struct aprc_attn_rope {
  float* q;
  float* k;
  const float* v;
  void* ck;
  void* cv;
  const float* cs;
  const float* sn;
};

// S = 0: prefill (grid KVH x ceil(T / QT)); S > 0: decode with S splits (grid KVH x S x T, QT = 1).
// W warps a block. The loads of the first key tile and of the queries are all issued before the first
// is used. (No cache row may be read before aprc_wait_prior_grid(), not even rows of earlier calls:
// with programmatic launches the kernels of one call can start while those of the call before still
// run, so an earlier call's kv append may not have finished; a GPU test saw exactly that.)
template <int H, int KVH, int HD, int CE, int QT, int S, int W, bool ROPE = false>
APRC_DEV void aprc_attention(const float* q, const void* ck, const void* cv, float* out, int T, int pos, float scale,
                             unsigned char* ws, aprc_attn_smem<H, KVH, HD, QT>& sm, aprc_attn_rope rope = {}) {
  constexpr int G = H / KVH, DPL = (HD + 31) / 32, PAIRS = QT * G, PPW = (PAIRS + W - 1) / W, NT = 32 * W;
  constexpr int HALF = HD / 2;
  static_assert(!ROPE || (S > 0 && QT == 1 && HD % 2 == 0), "the rope is fused into the decode attention only");
  const int kvh = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int t0 = S ? (int)blockIdx.z : (int)blockIdx.y * QT, split = S ? (int)blockIdx.y : 0;
  if (t0 >= T) return;
  const int nt = aprc_min(QT, T - t0);
  // keys of this block
  const int L = pos + t0 + nt;  // rows the last token sees
  int k0 = 0, k1 = L, se = 1;
  if (S) {  // splits in use: at least APRC_ATTN_SPLIT_MIN_KEYS keys each (the rest only count themselves done)
    se = aprc_min(S, (L + APRC_ATTN_SPLIT_MIN_KEYS - 1) / APRC_ATTN_SPLIT_MIN_KEYS);
    const int chunk = (L + se - 1) / se;
    k0 = aprc_min(L, split * chunk);
    k1 = aprc_min(L, k0 + chunk);
  }
  // ROPE: this block appends the token's row L - 1 (the last of its split), at j_new of its last tile
  const bool appends = ROPE && k0 < k1 && k1 == L;
  const int j_new = appends ? (L - 1 - k0) % 32 : -1;
  auto rows_loaded = [&](int kb) { return aprc_min(32, k1 - kb) - (appends && kb + 32 >= k1 ? 1 : 0); };
  aprc_kv_tile_regs<HD, CE, NT> tile;  // the first tile's loads, then the queries'
  aprc_kv_tile_clear<KVH, HD, CE, NT>(tile);
  if (k1 > k0) aprc_kv_tile_load<KVH, HD, CE, NT>(ck, cv, kvh, k0, 0, rows_loaded(k0), tile);
  // stage the queries: pair p = token (p / G), head (p % G); loads first, then the stores. With ROPE
  // each thread also loads the other value of each of its rotation pairs, and qv keeps the rotated q.
  constexpr int QN = PAIRS * HD, QITER = (QN + NT - 1) / NT;
  float qv[QITER];
  {
    float qpair[QITER];
#pragma unroll
    for (int it = 0; it < QITER; ++it) {
      const int i = threadIdx.x + NT * it, p = i / HD, d = i % HD, tt = p / G;
      const float* row = q + ((size_t)(t0 + tt) * H + kvh * G + p % G) * HD;
      const bool in = i < QN && tt < nt;
      qv[it] = in ? row[d] : 0.f;
      if (ROPE) qpair[it] = in ? row[aprc_rope_pair(d, HALF)] : 0.f;
    }
#pragma unroll
    for (int it = 0; it < QITER; ++it) {
      const int i = threadIdx.x + NT * it, d = i % HD;
      if (ROPE) qv[it] = aprc_rope_element(qv[it], qpair[it], d, HALF, rope.cs, rope.sn);
      if (i < QN) sm.q[i / HD][d] = qv[it] * scale;
    }
  }
  // ROPE: the appended row's elements d = threadIdx.x + NT * e: k rotated and v
  constexpr int NEW = (HD + NT - 1) / NT;
  float k_new[NEW], v_new[NEW];
  float* k_row = ROPE ? rope.k + ((size_t)t0 * KVH + kvh) * HD : nullptr;
#pragma unroll
  for (int e = 0; e < NEW; ++e) {
    const int d = threadIdx.x + NT * e;
    k_new[e] = v_new[e] = 0.f;
    if (appends && d < HD) {
      k_new[e] = aprc_rope_element(k_row[d], k_row[aprc_rope_pair(d, HALF)], d, HALF, rope.cs, rope.sn);
      v_new[e] = rope.v[((size_t)t0 * KVH + kvh) * HD + d];
    }
  }
  float m[PPW], l[PPW], o[PPW][DPL];
#pragma unroll
  for (int a = 0; a < PPW; ++a) {
    m[a] = APRC_NEG_INF;
    l[a] = 0.f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) o[a][i] = 0.f;
  }
  for (int kb = k0; kb < k1; kb += 32) {
    const int nk = aprc_min(32, k1 - kb);
    if (S && kb != k0) {  // decode: the tile's loads (a split has one or a few tiles)
      aprc_kv_tile_clear<KVH, HD, CE, NT>(tile);
      aprc_kv_tile_load<KVH, HD, CE, NT>(ck, cv, kvh, kb, 0, rows_loaded(kb), tile);
    }
    aprc_sync();  // the previous tile is done
    const bool new_row_here = appends && kb + 32 >= k1;
    aprc_kv_tile_store<HD, CE, NT>(tile, sm, new_row_here ? j_new : -1);
    if (new_row_here) {  // the appended row: into the tile (as the cache holds it), the cache and k
#pragma unroll
      for (int e = 0; e < NEW; ++e) {
        const int d = threadIdx.x + NT * e;
        if (d >= HD) break;
        const size_t at = (size_t)(L - 1) * KVH * HD + (size_t)kvh * HD + d;
        sm.k[j_new][d] = aprc_cache_rounded<CE>(k_new[e]);
        sm.v[j_new][d] = aprc_cache_rounded<CE>(v_new[e]);
        aprc_cache_store<CE>(rope.ck, at, k_new[e]);
        aprc_cache_store<CE>(rope.cv, at, v_new[e]);
        k_row[d] = k_new[e];
      }
    }
    aprc_sync();  // this tile (and the queries) staged
    if (!S && kb + 32 < k1) {  // prefill: the next tile's loads go out now and arrive while this one is summed
      aprc_kv_tile_clear<KVH, HD, CE, NT>(tile);
      aprc_kv_tile_load<KVH, HD, CE, NT>(ck, cv, kvh, kb + 32, 0, aprc_min(32, k1 - kb - 32), tile);
    }
#pragma unroll
    for (int a = 0; a < PPW; ++a) {
      const int p = warp + W * a;
      if (p >= PAIRS || p / G >= nt) break;  // warp-uniform
      const int last_row = pos + t0 + p / G;   // causal: this token sees rows <= last_row
      const bool live = lane < nk && kb + lane <= last_row;
      float sc = APRC_NEG_INF;
      if (live) {
        float acc[4] = {0.f, 0.f, 0.f, 0.f};  // four chains: the sum is not one dependent run of HD adds
#pragma unroll 8
        for (int d = 0; d < HD / 4 * 4; d += 4) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[e] = fmaf(sm.q[p][d + e], sm.k[lane][d + e], acc[e]);
        }
        for (int d = HD / 4 * 4; d < HD; ++d) acc[0] = fmaf(sm.q[p][d], sm.k[lane][d], acc[0]);
        sc = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      }
      const float mt = aprc_warp_max(sc);
      if (mt == APRC_NEG_INF) continue;  // no visible key in this tile (warp-uniform)
      const float mnew = fmaxf(m[a], mt);
      const float pr = live ? expf(sc - mnew) : 0.f;
      const float corr = expf(m[a] - mnew);
      l[a] = l[a] * corr + aprc_warp_sum(pr);
      const int nv = aprc_min(nk, last_row - kb + 1);
      float o2[DPL];  // two chains over the keys (even, odd), summed at the end
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        o[a][i] *= corr;
        o2[i] = 0.f;
      }
      int j = 0;
      for (; j + 4 <= nv; j += 4) {
        float pj[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) pj[u] = aprc_shfl(pr, j + u);
#pragma unroll
        for (int u = 0; u < 4; ++u)
#pragma unroll
          for (int i = 0; i < DPL; ++i)
            if (lane + 32 * i < HD) {
              if (u & 1) o2[i] = fmaf(pj[u], sm.v[j + u][lane + 32 * i], o2[i]);
              else o[a][i] = fmaf(pj[u], sm.v[j + u][lane + 32 * i], o[a][i]);
            }
      }
      for (; j < nv; ++j) {
        const float pj = aprc_shfl(pr, j);
#pragma unroll
        for (int i = 0; i < DPL; ++i)
          if (lane + 32 * i < HD) o[a][i] = fmaf(pj, sm.v[j][lane + 32 * i], o[a][i]);
      }
#pragma unroll
      for (int i = 0; i < DPL; ++i) o[a][i] += o2[i];
      m[a] = mnew;
    }
  }
  if (!S) {  // prefill: the block saw every key of its tokens
#pragma unroll
    for (int a = 0; a < PPW; ++a) {
      const int p = warp + W * a;
      if (p >= PAIRS || p / G >= nt) break;
#pragma unroll
      for (int i = 0; i < DPL; ++i)
        if (lane + 32 * i < HD) out[((size_t)(t0 + p / G) * H + kvh * G + p % G) * HD + lane + 32 * i] = o[a][i] / l[a];
    }
    return;
  }
  const int t = t0;
#pragma unroll
  for (int a = 0; a < PPW; ++a) {
    const int g = warp + W * a;
    if (g >= G || split >= se) break;
    float* part = aprc_attn_partial(ws, H, HD, S, T, t, kvh * G + g, split);
#pragma unroll
    for (int i = 0; i < DPL; ++i)
      if (lane + 32 * i < HD) part[2 + lane + 32 * i] = o[a][i];
    if (lane == 0) part[0] = m[a], part[1] = l[a];
  }
  aprc_threadfence();
  aprc_sync();
  APRC_SHARED unsigned last;
  if (threadIdx.x == 0) last = aprc_atomic_add(aprc_attn_counter(ws, KVH, t, kvh), 1u) == S - 1;
  aprc_sync();
  if (!last) return;
  aprc_threadfence();
  if (ROPE) {  // every block of this kv head has read q: the rotated q goes back in place
#pragma unroll
    for (int it = 0; it < QITER; ++it) {
      const int i = threadIdx.x + NT * it, p = i / HD;
      if (i < QN) rope.q[((size_t)t0 * H + kvh * G + p % G) * HD + i % HD] = qv[it];
    }
  }
  for (int g = warp; g < G; g += W) {  // the last block combines the partials of each head, lane s split s
    const int h = kvh * G + g;
    const float* all = aprc_attn_partial(ws, H, HD, S, T, t, h, 0);
    const float ms = lane < se ? aprc_ldcg(all + lane * (HD + 2)) : APRC_NEG_INF;
    const float ls = lane < se ? aprc_ldcg(all + lane * (HD + 2) + 1) : 0.f;
    // splits' loads in flight before their sums: every split of a head of up to 128 in one round (the
    // decode grid holds one block an SM, so registers are there to spare; 7B on an H100: +0.3%)
    constexpr int B = DPL <= 4 ? 32 : 8;
    float pv[B][DPL];
#pragma unroll
    for (int b = 0; b < B; ++b)  // the first batch's loads go out with m and l
#pragma unroll
      for (int i = 0; i < DPL; ++i)
        pv[b][i] = b < se && lane + 32 * i < HD ? aprc_ldcg(all + b * (HD + 2) + 2 + lane + 32 * i) : 0.f;
    const float M = aprc_warp_max(ms);
    const float w = lane < se ? expf(ms - M) : 0.f;
    const float lsum = aprc_warp_sum(w * ls);
    float acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[i] = 0.f;
    for (int s0 = 0; s0 < se; s0 += B) {
      if (s0 > 0) {
#pragma unroll
        for (int b = 0; b < B; ++b)
#pragma unroll
          for (int i = 0; i < DPL; ++i)
            pv[b][i] = s0 + b < se && lane + 32 * i < HD ? aprc_ldcg(all + (s0 + b) * (HD + 2) + 2 + lane + 32 * i) : 0.f;
      }
#pragma unroll
      for (int b = 0; b < B; ++b) {
        const float wsp = aprc_shfl(w, (s0 + b) & 31);  // lanes >= se carry w = 0
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[i] = fmaf(wsp, pv[b][i], acc[i]);
      }
    }
#pragma unroll
    for (int i = 0; i < DPL; ++i)
      if (lane + 32 * i < HD) out[((size_t)t * H + h) * HD + lane + 32 * i] = acc[i] / lsum;
  }
  if (threadIdx.x == 0) *aprc_attn_counter(ws, KVH, t, kvh) = 0u;
}

// ---- embedding -----------------------------------------------------------------------------------------
template <class B, void (*F)(const B*, float*), int QK>
APRC_DEV void aprc_embed_blocks(const void* table, int id, int H, float* out) {
  const int nb = H / QK;
  for (int b = threadIdx.x; b < nb; b += blockDim.x)
    F((const B*)((const unsigned char*)table + ((size_t)id * nb + b) * sizeof(B)), out + (size_t)b * QK);
}

template <class W>
APRC_DEV void aprc_embed_chunks(const W& w, int id, int H, float* out) {
  for (int c = threadIdx.x; c < H / W::CW; c += blockDim.x) w.values(w.load(id, c), out + (size_t)c * W::CW);
}
