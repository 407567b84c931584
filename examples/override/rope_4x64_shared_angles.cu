// A hand-written kernel for `aprc compile --target cuda --override-kernel NAME=FILE.cu` (README.md
// beside it says how to use it). The idea it tries: the q rope kernel computes each token's cos/sin
// once per frequency (32 sincos) into shared memory and rotates the 4 heads with them, where the
// generated kernel computes them once per (head, frequency) (128). Same arithmetic, so aprc verify
// finds the same values.
//
// Name, parameters and launch bounds are the generated kernel's, as `aprc kernels PLAN --kernel
// rope_4x64_1545d4f7` prints them for Qwen2 models with 4 heads of 64 (the fixture
// qwen2-tiny-q4km.gguf, --synthetic tiny); for another model start from its own rope kernel. In
// scope, as for generated code: the device library (aprc_* functions, formats/blocks.h) and the
// generated kernel's table rope_4x64_1545d4f7_inv_freq. APRC_KERNEL, APRC_SHARED and aprc_sync
// (not __global__, __shared__, __syncthreads) keep it runnable on the tests' host emulator too.
APRC_KERNEL void APRC_BOUNDS(128) rope_4x64_1545d4f7(float* __restrict__ x, const aprc_i64* __restrict__ s,
                                                     unsigned char* __restrict__ ws) {
  constexpr int HEADS = 4, HD = 64;
  APRC_SHARED float cos_i[HD / 2], sin_i[HD / 2];
  const int t = blockIdx.x;  // one block a token
  if (t >= (int)s[0]) return;
  const int p = (int)s[1] + t;
  // The angles depend on the position only: computed before waiting for the previous kernel.
  for (int i = threadIdx.x; i < HD / 2; i += blockDim.x) aprc_rope_angle(p, rope_4x64_1545d4f7_inv_freq[i], cos_i[i], sin_i[i]);
  aprc_allow_next_grid();
  aprc_wait_prior_grid();
  aprc_sync();
  float* row = x + (size_t)t * HEADS * HD;
  for (int idx = threadIdx.x; idx < HEADS * HD / 2; idx += blockDim.x) {
    const int h = idx / (HD / 2), i = idx % (HD / 2);
    float* v = row + h * HD;
    const float x0 = v[i], x1 = v[i + HD / 2];
    v[i] = x0 * cos_i[i] - x1 * sin_i[i];
    v[i + HD / 2] = x1 * cos_i[i] + x0 * sin_i[i];
  }
}
