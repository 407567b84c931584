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

template <int CELEM>
APRC_DEV void aprc_cache_store(void* c, size_t i, float v) {
  if (CELEM == 0) ((float*)c)[i] = v;
  else if (CELEM == 1) ((unsigned short*)c)[i] = aprc_f32_to_f16_bits(v);
  else ((unsigned short*)c)[i] = (unsigned short)(aprc_pack_bf16x2(v, 0.f) & 0xffffu);
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

template <int HEADS, int HD>
APRC_DEV void aprc_rope_row(float* row, int p, const double* inv_freq) {
  for (int idx = threadIdx.x; idx < HEADS * HD / 2; idx += blockDim.x) {
    const int h = idx / (HD / 2), i = idx % (HD / 2);
    float c, s;
    aprc_rope_angle(p, inv_freq[i], c, s);
    float* v = row + h * HD;
    const float x0 = v[i], x1 = v[i + HD / 2];
    v[i] = x0 * c - x1 * s;
    v[i + HD / 2] = x1 * c + x0 * s;
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
      const float x0 = y0, x1 = y1;
      y0 = x0 * c - x1 * s;
      y1 = x1 * c + x0 * s;
      kh[i] = y0;
      kh[i + HD / 2] = y1;
    }
    aprc_cache_store<CELEM>(ck, base + h * HD + i, y0);
    aprc_cache_store<CELEM>(ck, base + h * HD + i + HD / 2, y1);
  }
  for (int idx = threadIdx.x; idx < KVH * HD; idx += blockDim.x) aprc_cache_store<CELEM>(cv, base + idx, v[idx]);
}

// ---- attention ------------------------------------------------------------------------------------------
// One warp attends one query (in shared memory, already scaled) over cache rows [k0, k1) of kv head
// kvh, with the running max m, sum l and output o (lane holds dims lane, lane + 32, ...): the online
// softmax of flash attention, 32 keys at a time (lane j scores key j).
template <int HD, int KVH, int CELEM>
APRC_DEV void aprc_attend(const float* qs, const void* ck, const void* cv, int kvh, int k0, int k1, float& m,
                          float& l, float* o) {
  constexpr int DPL = (HD + 31) / 32;  // dims per lane
  const int lane = threadIdx.x & 31;
  m = APRC_NEG_INF;
  l = 0.f;
#pragma unroll
  for (int i = 0; i < DPL; ++i) o[i] = 0.f;
  for (int kb = k0; kb < k1; kb += 32) {
    const int key = kb + lane;
    float s = APRC_NEG_INF;
    if (key < k1) {
      const size_t row = (size_t)key * KVH * HD + (size_t)kvh * HD;
      float acc = 0.f;
      if (CELEM == 0 && HD % 4 == 0) {
        const float* kr = (const float*)ck + row;
#pragma unroll 8
        for (int d = 0; d < HD / 4; ++d) {
          const float4 kv = aprc_ldf4(kr + 4 * d);
          acc = fmaf(qs[4 * d], kv.x, acc);
          acc = fmaf(qs[4 * d + 1], kv.y, acc);
          acc = fmaf(qs[4 * d + 2], kv.z, acc);
          acc = fmaf(qs[4 * d + 3], kv.w, acc);
        }
      } else {
        for (int d = 0; d < HD; ++d) acc = fmaf(qs[d], aprc_cache_load<CELEM>(ck, row + d), acc);
      }
      s = acc;
    }
    const float mnew = fmaxf(m, aprc_warp_max(s));
    const float p = key < k1 ? expf(s - mnew) : 0.f;
    const float corr = expf(m - mnew);
    l = l * corr + aprc_warp_sum(p);
#pragma unroll
    for (int i = 0; i < DPL; ++i) o[i] *= corr;
    const int nk = aprc_min(32, k1 - kb);
    for (int j = 0; j < nk; ++j) {
      const float pj = aprc_shfl(p, j);
      const size_t row = (size_t)(kb + j) * KVH * HD + (size_t)kvh * HD;
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + 32 * i;
        if (d < HD) o[i] = fmaf(pj, aprc_cache_load<CELEM>(cv, row + d), o[i]);
      }
    }
    m = mnew;
  }
}

// ---- decode attention ------------------------------------------------------------------------------
// Keys [0, pos + t] are cut into S contiguous splits; a block of 4 warps takes one (token, kv head,
// split), stages 32 keys and values at a time in shared memory (read once for all G query heads of
// the kv head), and each warp runs the online softmax of its heads (lane j scores key j). The partial
// (max, sum, output) of every head goes to the workspace; the block that finishes last for a (token,
// kv head) combines the S partials and writes the output.
//
// Workspace (for a call of T tokens): a counter of finished splits per (token, kv head), then the
// partials per (token, head, split): m, l, o[HD]. Counters start at zero and the last block resets its
// own, so the workspace is clean after every call.
APRC_DEV unsigned* aprc_attn_counter(unsigned char* ws, int KVH, int t, int kvh) { return (unsigned*)ws + (size_t)t * KVH + kvh; }
APRC_DEV float* aprc_attn_partial(unsigned char* ws, int H, int HD, int S, int T, int t, int h, int split) {
  float* base = (float*)(ws + (((size_t)T * H * 4 + 255) & ~(size_t)255));
  return base + (((size_t)t * H + h) * S + split) * (HD + 2);
}

template <int H, int KVH, int HD, int CE, int S>
struct aprc_attn_decode_smem {
  static constexpr int G = H / KVH, HP = HD + 1;
  float q[G][HD];
  float k[32][HP];  // padded: lane j reads row j without bank conflicts
  float v[32][HD];
};

template <int H, int KVH, int HD, int CE, int S>
APRC_DEV void aprc_attention_decode(const float* q, const void* ck, const void* cv, float* out, int T, int pos,
                                    float scale, unsigned char* ws, aprc_attn_decode_smem<H, KVH, HD, CE, S>& sm) {
  constexpr int G = H / KVH, DPL = (HD + 31) / 32, W = 4, HPW = (G + W - 1) / W;  // heads a warp
  const int kvh = blockIdx.x, split = blockIdx.y, t = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (t >= T) return;
  for (int i = threadIdx.x; i < G * HD; i += blockDim.x)
    sm.q[i / HD][i % HD] = q[((size_t)t * H + kvh * G + i / HD) * HD + i % HD] * scale;
  // splits in use: at least 32 keys each (the rest only count themselves done)
  const int L = pos + t + 1, se = aprc_min(S, (L + 31) / 32), chunk = (L + se - 1) / se;
  const int k0 = aprc_min(L, split * chunk), k1 = aprc_min(L, k0 + chunk);
  float m[HPW], l[HPW], o[HPW][DPL];
#pragma unroll
  for (int a = 0; a < HPW; ++a) {
    m[a] = APRC_NEG_INF;
    l[a] = 0.f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) o[a][i] = 0.f;
  }
  for (int kb = k0; kb < k1; kb += 32) {
    const int nk = aprc_min(32, k1 - kb);
    aprc_sync();  // the previous tile (and the q staging) is done
    for (int i = threadIdx.x; i < 32 * HD; i += blockDim.x) {
      const int j = i / HD, d = i % HD;
      const size_t at = (size_t)(kb + j) * KVH * HD + (size_t)kvh * HD + d;
      sm.k[j][d] = j < nk ? aprc_cache_load<CE>(ck, at) : 0.f;
      sm.v[j][d] = j < nk ? aprc_cache_load<CE>(cv, at) : 0.f;
    }
    aprc_sync();
#pragma unroll
    for (int a = 0; a < HPW; ++a) {
      const int g = warp + W * a;
      if (g >= G) break;  // warp-uniform
      float sc = APRC_NEG_INF;
      if (lane < nk) {
        float acc = 0.f;
#pragma unroll 8
        for (int d = 0; d < HD; ++d) acc = fmaf(sm.q[g][d], sm.k[lane][d], acc);
        sc = acc;
      }
      const float mnew = fmaxf(m[a], aprc_warp_max(sc));
      const float p = lane < nk ? expf(sc - mnew) : 0.f;
      const float corr = expf(m[a] - mnew);
      l[a] = l[a] * corr + aprc_warp_sum(p);
#pragma unroll
      for (int i = 0; i < DPL; ++i) o[a][i] *= corr;
      for (int j = 0; j < nk; ++j) {
        const float pj = aprc_shfl(p, j);
#pragma unroll
        for (int i = 0; i < DPL; ++i)
          if (lane + 32 * i < HD) o[a][i] = fmaf(pj, sm.v[j][lane + 32 * i], o[a][i]);
      }
      m[a] = mnew;
    }
  }
#pragma unroll
  for (int a = 0; a < HPW; ++a) {
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
  for (int g = warp; g < G; g += W) {  // the last block combines the partials of each head, lane s split s
    const int h = kvh * G + g;
    const float* all = aprc_attn_partial(ws, H, HD, S, T, t, h, 0);
    const float ms = lane < se ? aprc_ldcg(all + lane * (HD + 2)) : APRC_NEG_INF;
    const float ls = lane < se ? aprc_ldcg(all + lane * (HD + 2) + 1) : 0.f;
    const float M = aprc_warp_max(ms);
    const float w = lane < se ? expf(ms - M) : 0.f;
    const float lsum = aprc_warp_sum(w * ls);
    float acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[i] = 0.f;
    for (int sp = 0; sp < se; ++sp) {
      const float wsp = aprc_shfl(w, sp);
#pragma unroll
      for (int i = 0; i < DPL; ++i)
        if (lane + 32 * i < HD) acc[i] = fmaf(wsp, aprc_ldcg(all + sp * (HD + 2) + 2 + lane + 32 * i), acc[i]);
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
