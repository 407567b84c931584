// aprc CUDA device library, part 1: the primitives every generated kernel uses.
//
// Generated sources compile two ways: under NVRTC for the GPU, and as host C++ with APRC_EMU defined
// for the warp-level emulator in tests/unit (which runs every thread as a fiber, so the same kernel
// text is checked on machines without a GPU). Everything that differs between the two lives here:
// qualifiers, shuffles, barriers, the tensor-core instruction, conversions and cache hints.
#pragma once

#if !defined(APRC_EMU)
#define APRC_DEV __device__ __forceinline__
#define APRC_KERNEL extern "C" __global__
#define APRC_BOUNDS(...) __launch_bounds__(__VA_ARGS__)
#define APRC_DYN_SHARED(name) extern __shared__ float4 name[]
#define APRC_SHARED __shared__
#define APRC_TABLE static __device__ const
#else
// The emulator header (included first) defines threadIdx, blockIdx, the vector types and aprc_emu_*.
#define APRC_DEV inline
#define APRC_KERNEL static
#define APRC_BOUNDS(...)
#define APRC_DYN_SHARED(name) float4* name = (float4*)aprc_emu_dyn_shared()
#define APRC_SHARED static
#define APRC_TABLE static const
#endif

typedef long long aprc_i64;

#define APRC_NEG_INF aprc_bits_to_f32(0xff800000u)

// ---- barriers and warp exchange -------------------------------------------------------------------

APRC_DEV void aprc_sync() {
#if !defined(APRC_EMU)
  __syncthreads();
#else
  aprc_emu_syncthreads();
#endif
}

APRC_DEV float aprc_shfl_xor(float v, int mask) {
#if !defined(APRC_EMU)
  return __shfl_xor_sync(0xffffffffu, v, mask);
#else
  return aprc_emu_shfl_xor(v, mask);
#endif
}

APRC_DEV float aprc_shfl(float v, int src_lane) {
#if !defined(APRC_EMU)
  return __shfl_sync(0xffffffffu, v, src_lane);
#else
  return aprc_emu_shfl(v, src_lane);
#endif
}

APRC_DEV float aprc_warp_sum(float v) {
  for (int m = 16; m > 0; m >>= 1) v += aprc_shfl_xor(v, m);
  return v;
}

APRC_DEV float aprc_warp_max(float v) {
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, aprc_shfl_xor(v, m));
  return v;
}

// Sum over the block with a single barrier; every thread gets the result. `scratch` holds one float per
// warp (32 floats); no thread may still read it from an earlier use (a barrier must lie between), and it
// may be written again only after the next barrier.
APRC_DEV float aprc_block_sum_once(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = aprc_warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  aprc_sync();
  float s = 0.f;
  for (int w = 0; w < warps; ++w) s += scratch[w];
  return s;
}

// The same between two more barriers, so that scratch may be used right before and right after.
APRC_DEV float aprc_block_sum(float v, float* scratch) {
  aprc_sync();
  const float s = aprc_block_sum_once(v, scratch);
  aprc_sync();
  return s;
}

// ---- device-wide ordering (split-K style combines) --------------------------------------------------

APRC_DEV void aprc_threadfence() {
#if !defined(APRC_EMU)
  __threadfence();
#endif
}

APRC_DEV unsigned aprc_atomic_add(unsigned* p, unsigned v) {
#if !defined(APRC_EMU)
  return atomicAdd(p, v);
#else
  const unsigned old = *p;
  *p = old + v;
  return old;
#endif
}

// ---- programmatic dependent launch (sm_90): a kernel may start before the previous one ends; it
// must call aprc_wait_prior_grid() before it reads what the previous kernel wrote. Loads of weights
// (which no kernel writes) may be issued before the wait. On older targets both are no-ops and the
// launch is ordered as usual.
APRC_DEV void aprc_wait_prior_grid() {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
APRC_DEV void aprc_allow_next_grid() {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// ---- loads -------------------------------------------------------------------------------------------
// Weights are read-only for the whole program: read them through the non-coherent path.

APRC_DEV uint4 aprc_ldg16(const void* p) {
#if !defined(APRC_EMU)
  return __ldg((const uint4*)p);
#else
  aprc_emu_check_align(p, 16);
  uint4 v;
  memcpy(&v, p, 16);
  return v;
#endif
}
APRC_DEV uint2 aprc_ldg8(const void* p) {
#if !defined(APRC_EMU)
  return __ldg((const uint2*)p);
#else
  aprc_emu_check_align(p, 8);
  uint2 v;
  memcpy(&v, p, 8);
  return v;
#endif
}
APRC_DEV unsigned aprc_ldg4(const void* p) {
#if !defined(APRC_EMU)
  return __ldg((const unsigned*)p);
#else
  aprc_emu_check_align(p, 4);
  unsigned v;
  memcpy(&v, p, 4);
  return v;
#endif
}
APRC_DEV unsigned aprc_ldg2(const void* p) {
#if !defined(APRC_EMU)
  return __ldg((const unsigned short*)p);
#else
  aprc_emu_check_align(p, 2);
  unsigned short v;
  memcpy(&v, p, 2);
  return v;
#endif
}

// A value (float, int) written by another block of this kernel (after a fence): read at L2, bypassing L1.
template <class T>
APRC_DEV T aprc_ldcg(const T* p) {
#if !defined(APRC_EMU)
  return __ldcg(p);
#else
  return *p;
#endif
}

// Activations (written by earlier kernels): a 16-byte load of 4 floats.
APRC_DEV float4 aprc_ldf4(const float* p) {
#if defined(APRC_EMU)
  aprc_emu_check_align(p, 16);
#endif
  return *(const float4*)p;
}

// L2 prefetch of the 16-byte aligned part of a range (sm_90 bulk prefetch; others skip it). Only for
// data no kernel writes (weights).
APRC_DEV void aprc_prefetch_l2(const void* p, unsigned bytes) {
#if !defined(APRC_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // a decode GEMV warp's rows may start at any row of a plane: not every range is aligned
  const size_t b = ((size_t)p + 15) & ~(size_t)15, e = ((size_t)p + bytes) & ~(size_t)15;
  if (e > b) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(b), "r"((unsigned)(e - b)) : "memory");
#endif
}

// Byte dot products: c + sum of a.byte[i] * b.byte[i]; _us: a unsigned, b signed; _ss: both signed.
APRC_DEV int aprc_dp4a_us(unsigned a, unsigned b, int c) {
#if !defined(APRC_EMU)
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  for (int i = 0; i < 4; ++i) c += (int)((a >> (8 * i)) & 0xffu) * (int)(signed char)((b >> (8 * i)) & 0xffu);
  return c;
#endif
}
APRC_DEV int aprc_dp4a_ss(unsigned a, unsigned b, int c) {
#if !defined(APRC_EMU)
  int d;
  asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  for (int i = 0; i < 4; ++i)
    c += (int)(signed char)((a >> (8 * i)) & 0xffu) * (int)(signed char)((b >> (8 * i)) & 0xffu);
  return c;
#endif
}

// ---- conversions -------------------------------------------------------------------------------------

APRC_DEV float aprc_as_float(unsigned u) { return aprc_bits_to_f32(u); }
APRC_DEV unsigned aprc_as_uint(float f) { return aprc_f32_to_bits(f); }

// An integer 0 <= v < 2^22 as float, with one OR and one subtract (cheaper than an int->float
// conversion): 0x4B000000 is 2^23, whose mantissa then holds v exactly.
APRC_DEV float aprc_small_uint_to_float(unsigned v) { return aprc_as_float(0x4B000000u | v) - 8388608.0f; }

// round(x) to nearest even as int, in one conversion (rintf then a cast may take two).
APRC_DEV int aprc_float_to_int_rn(float x) {
#if !defined(APRC_EMU)
  return __float2int_rn(x);
#else  // as cvt.rni.s32.f32: NaN is 0, out of range saturates
  return x != x ? 0 : x >= 2147483520.f ? 2147483647 : x <= -2147483648.f ? (-2147483647 - 1) : (int)rintf(x);
#endif
}

// 1 / x, correctly rounded.
APRC_DEV float aprc_rcp(float x) {
#if !defined(APRC_EMU)
  return __frcp_rn(x);
#else
  return 1.0f / x;
#endif
}

// Byte `b` (0..3) of each of y0..y3, as bytes 0..3 of one word.
APRC_DEV unsigned aprc_gather_byte(unsigned y0, unsigned y1, unsigned y2, unsigned y3, int b) {
#if !defined(APRC_EMU)
  const unsigned sel = (unsigned)b | (unsigned)(b + 4) << 4;  // byte b of the first word, then of the second
  return __byte_perm(__byte_perm(y0, y1, sel), __byte_perm(y2, y3, sel), 0x5410);
#else
  const int k = 8 * b;
  return ((y0 >> k) & 0xffu) | ((y1 >> k) & 0xffu) << 8 | ((y2 >> k) & 0xffu) << 16 | ((y3 >> k) & 0xffu) << 24;
#endif
}

APRC_DEV float aprc_half_to_float(unsigned short h) {
#if !defined(APRC_EMU)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  return aprc_f16_to_f32(h);
#endif
}

APRC_DEV float aprc_bf16_to_float(unsigned short h) { return aprc_as_float((unsigned)h << 16); }

// f32 -> bf16, round to nearest even; the pair packs `lo` in bits 0-15 and `hi` in bits 16-31.
APRC_DEV unsigned aprc_pack_bf16x2(float lo, float hi) {
#if !defined(APRC_EMU)
  unsigned r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return aprc_emu_f32_to_bf16(lo) | (aprc_emu_f32_to_bf16(hi) << 16);
#endif
}

// Splits x into two bf16 values whose sum carries 16 bits of x's mantissa (x - hi is exact in f32).
APRC_DEV void aprc_split_bf16x2(float x0, float x1, unsigned& hi, unsigned& lo) {
  hi = aprc_pack_bf16x2(x0, x1);
  const float h0 = aprc_as_float(hi << 16), h1 = aprc_as_float(hi & 0xffff0000u);
  lo = aprc_pack_bf16x2(x0 - h0, x1 - h1);
}

// ---- the tensor-core instruction ------------------------------------------------------------------
// d += a * b for a 16x8x16 tile, bf16 operands, f32 accumulation (mma.sync m16n8k16 row.col). With
// g = lane / 4 and t = lane % 4: a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..], a[2] = A[g][2t+8..],
// a[3] = A[g+8][2t+8..]; b[0] = B[k=2t..2t+1][n=g], b[1] = B[k=2t+8..][n=g]; d[0..1] = D[g][2t..2t+1],
// d[2..3] = D[g+8][2t..2t+1]. Each 32-bit register holds the lower-indexed element in its low half.
APRC_DEV void aprc_mma_bf16_16816(float* d, const unsigned* a, const unsigned* b) {
#if !defined(APRC_EMU)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  aprc_emu_mma_bf16_16816(d, a, b);
#endif
}

APRC_DEV int aprc_min(int a, int b) { return a < b ? a : b; }
APRC_DEV int aprc_max(int a, int b) { return a > b ? a : b; }

// Index of element i of a row staged in shared memory with 4 floats of padding after every 32, so
// that 8 lanes reading 16 bytes each from consecutive 32-float groups hit distinct banks.
APRC_DEV int aprc_pad32(int i) { return i + ((i >> 5) << 2); }
