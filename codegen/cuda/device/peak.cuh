// aprc CUDA device library, arithmetic peaks: what `aprc bench --per-kernel` holds compute-bound
// kernels to, measured on the card in the same run (runtime/cuda/peak.cpp launches them; abi.h names
// them and fixes their shapes). Each thread runs kAprcPeakChains independent chains of s[0]
// iterations (a multiple of 8) of the instruction, and writes what its chains end at to
// out[its global index], so that nothing is removed and the emulator can check the arithmetic.
#pragma once

#define APRC_PEAK_CHAINS 16    // fp32: independent FMAs a thread has in flight
#define APRC_PEAK_MMA_CHAINS 4  // tensor cores: independent accumulator tiles a warp has in flight

// fp32 FMA chains on the CUDA cores: acc = acc * 0.9999 + 0.0001, 2 flops each.
APRC_DEV void aprc_peak_fma(float* out, const aprc_i64* s) {
  const int iterations = (int)s[0];
  const int id = blockIdx.x * blockDim.x + threadIdx.x;
  float acc[APRC_PEAK_CHAINS];
#pragma unroll
  for (int c = 0; c < APRC_PEAK_CHAINS; ++c) acc[c] = (float)(id & 63) * 0.001f + (float)c * 0.01f;
#pragma unroll 8
  for (int i = 0; i < iterations; ++i)
#pragma unroll
    for (int c = 0; c < APRC_PEAK_CHAINS; ++c) acc[c] = fmaf(acc[c], 0.9999f, 0.0001f);
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < APRC_PEAK_CHAINS; ++c) sum += acc[c];
  out[id] = sum;
}

// The value every A element of a block's tiles takes (B's are 0.5): 1, 2, 3 or 4, exact in bf16 and
// e4m3, so that each accumulator ends at exactly iterations * K * x * 0.5.
APRC_DEV float aprc_peak_a_value() { return (float)(1 + (blockIdx.x & 3)); }

// Tensor-core instruction chains: bf16 mma.sync m16n8k16 (the Mma prefill tiles' instruction,
// 4096 flops each) or, FP8, e4m3 mma.sync m16n8k32 (the Fp8Mma tiles', sm_89 and newer; older cards
// run its model), both with f32 accumulation.
template <bool FP8>
APRC_DEV void aprc_peak_mma(float* out, const aprc_i64* s) {
  const int iterations = (int)s[0];
  const float x = aprc_peak_a_value();
  const unsigned a2 = FP8 ? aprc_pack_e4m3x2(x, x) : 0u, b2 = FP8 ? aprc_pack_e4m3x2(0.5f, 0.5f) : 0u;
  const unsigned ax = FP8 ? (a2 | a2 << 16) : aprc_pack_bf16x2(x, x), bx = FP8 ? (b2 | b2 << 16) : aprc_pack_bf16x2(0.5f, 0.5f);
  const unsigned a[4] = {ax, ax, ax, ax}, b[2] = {bx, bx};
  float d[APRC_PEAK_MMA_CHAINS][4] = {};
#pragma unroll 8
  for (int i = 0; i < iterations; ++i)
#pragma unroll
    for (int c = 0; c < APRC_PEAK_MMA_CHAINS; ++c) {
      if (FP8)
        aprc_mma_e4m3_16832(d[c], a, b);
      else
        aprc_mma_bf16_16816(d[c], a, b);
    }
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < APRC_PEAK_MMA_CHAINS; ++c) sum += d[c][0] + d[c][1] + d[c][2] + d[c][3];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}
