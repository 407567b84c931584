// The contract between the CUDA code generator (codegen/cuda) and the CUDA runtime (runtime/cuda).
// Header-only and free of CUDA headers, so both sides (and tests on machines without a GPU) share it.
//
// Kernel parameters: every generated kernel takes, in order, the step's arguments (pointers, in the
// order kernel_spec.h fixes for its kind), then `const long long* s`, then `unsigned char* ws`.
//   s  points at the step's slot in a small device table that the runtime fills before each call:
//      s[0] = the step's first scalar (its token count, normally T), s[1] = pos. The decode step is
//      captured once as a CUDA graph; before each replay only this table changes.
//   ws is the step's workspace (workspace_bytes below; null when 0), zeroed once at allocation.
// KV caches: per layer two buffers (k, v) of [context][kv_heads * head_dim] values of the spec's
// cache_dtype (f32, f16 or bf16); position p is row p.
// Variants: one KernelSpec may have several kernels (decode and prefill shapes); the kernel name is
// a readable tag plus a suffix naming the variant, and the step names the one it calls.
#pragma once

#include <cstdint>
#include <string_view>

#include "aprc/kernel_spec.h"

namespace aprc::cuda {

enum class Variant {
  Plain,        // the only kernel of its kind (norm, rope, kv append, embedding, elementwise)
  Gemv,         // Linear, matrix-vector: decode (one block per group of rows)
  Mma,          // Linear, matrix-matrix on the tensor cores (bf16 hi/lo activations)
  Simt,         // Linear, matrix-matrix fallback for weights that are not exact in bf16
  Fp8Mma,       // Linear, matrix-matrix on the FP8 tensor cores: fp8 weights, per-token e4m3 activations
  AttnDecode,   // Attention with the keys split across blocks (split-K), combined by the last block
  AttnPrefill,  // Attention, one warp a query
};

inline const char* variant_suffix(Variant v) {
  switch (v) {
    case Variant::Plain: return "";
    case Variant::Gemv: return "__gemv";
    case Variant::Mma: return "__mma";
    case Variant::Simt: return "__simt";
    case Variant::Fp8Mma: return "__fp8mma";
    case Variant::AttnDecode: return "__decode";
    case Variant::AttnPrefill: return "__prefill";
  }
  return "";
}

inline Variant variant_of(std::string_view kernel_name) {
  for (Variant v : {Variant::Gemv, Variant::Mma, Variant::Simt, Variant::Fp8Mma, Variant::AttnDecode, Variant::AttnPrefill}) {
    const std::string_view s = variant_suffix(v);
    if (kernel_name.size() > s.size() && kernel_name.substr(kernel_name.size() - s.size()) == s) return v;
  }
  return Variant::Plain;
}

// Splits of the decode attention (fixed, so the launch shape does not depend on pos; at most 32: the
// combine gives each split a lane).
constexpr int kAttnDecodeSplits = 32;

// Bytes of workspace a step needs; `max_tokens` bounds T.
inline uint64_t workspace_bytes(const KernelSpec& spec, Variant v, int64_t max_tokens) {
  if (spec.kind != KernelKind::Attention || v != Variant::AttnDecode) return 0;
  const uint64_t counters = (static_cast<uint64_t>(max_tokens) * spec.heads * 4 + 255) & ~uint64_t(255);
  return counters + static_cast<uint64_t>(max_tokens) * spec.heads * kAttnDecodeSplits * (spec.head_dim + 2) * 4;
}

// Values of the scalar slot each kernel reads through `s`.
constexpr int kScalarSlot = 2;

// The arithmetic peak kernels every generated module has besides the plan's (codegen/cuda/device/
// peak.cuh; runtime/cuda/peak.h runs them for aprc bench --per-kernel). Each takes (float* out, s, ws)
// with s[0] = iterations (a multiple of 8), runs in blocks of kPeakThreads, and writes one float a
// thread; `flops_per_thread_iteration` counts a multiply-add as 2 (an mma.sync's work is shared by
// its warp's 32 threads).
struct PeakKernel {
  const char* name;
  double flops_per_thread_iteration;
};
constexpr int kPeakThreads = 256;
constexpr PeakKernel kPeakFp32{"aprc_peak_fma_f32", 2.0 * 16};                // 16 FMA chains a thread
constexpr PeakKernel kPeakBf16{"aprc_peak_mma_bf16", 4 * 2.0 * 16 * 8 * 16 / 32};  // 4 m16n8k16 a warp
constexpr PeakKernel kPeakFp8{"aprc_peak_mma_e4m3", 4 * 2.0 * 16 * 8 * 32 / 32};   // 4 m16n8k32 a warp

// The greedy sampler every generated module has (codegen/cuda/device/sampling.cuh; Engine::decode_greedy
// launches it after each decode step): (const float* logits, int* ids, int* out, long long* table, s, ws)
// with s[0] = the vocabulary size (below 2^24), s[1] = the steps of the function, ws = its workspace of
// kGreedyWorkspaceBytes (zeroed before the first call: the count of tokens picked and the blocks done
// with the current call, per block its candidate, then at kGreedyNanOffset the blocks that met a NaN in
// the current call and 1 + the index of the first token picked from logits holding a NaN, 0 if none);
// kGreedyBlocks blocks of kGreedyThreads, each taking a slice of the row, the last to finish choosing.
// ids[0] and out[count] get the row's argmax, the count and the position of every step's slot of
// `table` (the function's scalar table, kScalarSlot values a step) move on by one: every launch of it
// takes the same parameters.
constexpr const char* kGreedyKernel = "aprc_greedy_sample";
constexpr int kGreedyBlocks = 128;  // = APRC_GREEDY_BLOCKS
constexpr int kGreedyThreads = 256;
constexpr uint64_t kGreedyNanOffset = 8 + 8 * kGreedyBlocks;
constexpr uint64_t kGreedyWorkspaceBytes = kGreedyNanOffset + 8;

}  // namespace aprc::cuda
