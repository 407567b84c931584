// A hand-written kernel for `aprc compile --target cuda --override-kernel NAME=FILE.cu` (README.md
// beside it says how to use it). The kernel it stands in for rotates q and k of each token and appends
// k and v to the KV cache (aprc.rope_qk_kv_append); the generated one computes the 32 angles of a
// token into shared memory and then spreads the (head, frequency) pairs over all its threads. The idea
// tried here: no shared memory and no barrier; thread i < 32 takes frequency i, computes its angle once
// in registers and rotates every head (4 of q, 2 of k) at that frequency, while the other threads copy
// v. Same products, so aprc verify finds the same values.
//
// Name, parameters and launch bounds are the generated kernel's, as `aprc kernels PLAN --kernel
// rope_qk_kv_append_4_2x64_56565fa7` prints them for Qwen2 models with 4 heads and 2 kv heads of 64
// (the fixture qwen2-tiny-q4km.gguf, --synthetic tiny); for another model start from its own kernel.
// In scope, as for generated code: the device library (aprc_* functions, formats/blocks.h) and the
// generated kernel's table rope_qk_kv_append_4_2x64_56565fa7_inv_freq. APRC_KERNEL (not __global__)
// keeps it runnable on the tests' host emulator too.
APRC_KERNEL void APRC_BOUNDS(192) rope_qk_kv_append_4_2x64_56565fa7(float* __restrict__ k, const float* __restrict__ v,
                                                                     void* __restrict__ ck, void* __restrict__ cv,
                                                                     float* __restrict__ q, const aprc_i64* __restrict__ s,
                                                                     unsigned char* __restrict__ ws) {
  constexpr int HEADS = 4, KVH = 2, HD = 64;
  const int t = blockIdx.x;  // one block a token
  if (t >= (int)s[0]) return;
  const int p = (int)s[1] + t;
  const int i = threadIdx.x;
  float c = 0.f, sn = 0.f;
  // The angle depends on the position only: computed before waiting for the previous kernel.
  if (i < HD / 2) aprc_rope_angle(p, rope_qk_kv_append_4_2x64_56565fa7_inv_freq[i], c, sn);
  aprc_allow_next_grid();
  aprc_wait_prior_grid();
  float* qt = q + (size_t)t * HEADS * HD;
  float* kt = k + (size_t)t * KVH * HD;
  const float* vt = v + (size_t)t * KVH * HD;
  float* ckf = (float*)ck + (size_t)p * KVH * HD;  // an f32 cache (the fixture's)
  float* cvf = (float*)cv + (size_t)p * KVH * HD;
  if (i < HD / 2) {
    for (int h = 0; h < HEADS + KVH; ++h) {
      float* x = h < HEADS ? qt + h * HD : kt + (h - HEADS) * HD;
      const float x0 = x[i], x1 = x[i + HD / 2];
      const float y0 = x0 * c - x1 * sn, y1 = x1 * c + x0 * sn;
      x[i] = y0;
      x[i + HD / 2] = y1;
      if (h >= HEADS) {
        ckf[(h - HEADS) * HD + i] = y0;
        ckf[(h - HEADS) * HD + i + HD / 2] = y1;
      }
    }
  } else {
    for (int j = i - HD / 2; j < KVH * HD; j += blockDim.x - HD / 2) cvf[j] = vt[j];
  }
}
