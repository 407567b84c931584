// What one generated kernel computes, independent of the backend that generates it.
//
// The schedule builder turns each op of a lowered aprc function into a KernelSpec plus argument
// bindings; the CPU and CUDA code generators each turn a KernelSpec into code. Two steps with
// equal specs share one kernel. The argument order of every kind is fixed here, and both backends
// follow it, so that a schedule step means the same thing on every target.
//
// Activations are f32, row-major [T, cols] (one row per token). Weights are described by their
// encoding, layout and shape, exactly as their IR type says.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"

namespace aprc {

struct WeightDesc {
  DType dtype = DType::F32;
  WeightLayout layout = WeightLayout::RowMajor;
  ScaleGranularity scales = ScaleGranularity::PerChannel;  // fp8 only
  int64_t rows = 0;  // out (1 for a 1-D vector)
  int64_t cols = 0;  // in
  bool operator==(const WeightDesc&) const = default;
};

// CPU kernels (docs/design.md): void NAME(void* const* args, const int64_t* scalars, int64_t begin,
// int64_t end), with args in the order below, scalars = {T, pos}, and [begin, end) the chunk of the
// parallel extent to compute. Unless a kind says otherwise the extent is the T tokens.
enum class KernelKind {
  // out[t] = dequant(table[ids[t]])              args: ids(i32[T]), table, out[T,H]
  // An id outside the table reads its nearest row (never out of bounds; the executor rejects such
  // ids before they get here).
  Embedding,
  // out = x / rms(x) * gamma                    args: x[T,H], gamma, out[T,H]
  RmsNorm,
  // out_i = prologue(x) @ W_i^T (+ b_i), then the epilogue.
  //   args: x[T,K], [gamma if has_norm], [residual[T,N] if epilogue == Residual],
  //         W_0..W_{n-1}, [b_0..b_{n-1} if has_bias], outputs
  //   outputs: one per weight (None), one (SwiGLU: silu(x@W_0^T) * (x@W_1^T); Residual:
  //   residual + x@W_0^T; the output may alias the residual).
  //   CPU parallel extent: sum of the weights' rows (SwiGLU: rows of W_0); chunks are row ranges.
  Linear,
  // In place rotate-half (NeoX) RoPE of `heads` heads at positions pos..pos+T-1.
  //                                             args: x[T,heads*head_dim]
  Rope,
  // Writes k and v rows into layer caches at positions pos..pos+T-1; with rope, k is rotated first
  // (and written back rotated into k too). With rope and heads > 0, the queries of the same tokens
  // (heads heads of head_dim) are rotated in place too (aprc.rope_qk_kv_append; the CUDA target).
  //   args: k[T,kv_heads*head_dim], v[T,kv_heads*head_dim], cache_k, cache_v [, q[T,heads*head_dim] if heads]
  KvAppend,
  // Causal grouped-query attention of q (T tokens at pos..pos+T-1) over cache positions
  // [0, pos+t]; softmax(q.k * scale) v.   args: q[T,heads*head_dim], cache_k, cache_v, out
  // Query head h reads kv head h / (heads / kv_heads). CPU parallel extent: query heads; chunks of
  // whole kv groups (grain heads / kv_heads) let the heads that share K and V read them together
  // (on the development machine, decode attention at 2048 positions took 83 us a layer with that
  // grain and 160 us with grain 1).
  // With rope (CUDA decode only, one token a call: a step that fuse_decode_steps joined), the step
  // first does the KvAppend with heads (rope_qk_kv_append) of k and v into the same caches, then the
  // attention of the rotated q.   args: q, cache_k, cache_v, out, k[T,kv_heads*head_dim], v
  // (q and k rotated in place, as the KvAppend leaves them).
  //
  // KV cache layout (KvAppend and Attention): one K and one V buffer per layer, each
  // [max_seq, kv_heads, head_dim] of cache_dtype (f32 on CPU), position-major: the entry of
  // position p and kv head g starts at element (p * kv_heads + g) * head_dim, so the T tokens of
  // one call append one contiguous run. Kernels never need max_seq; the executor checks that
  // pos + T fits before it calls them.
  Attention,
  // Elementwise over [T, cols]:  Silu: out = x*sigmoid(x) (args x,out); Mul/Add: out = a op b (a,b,out)
  Silu,
  Mul,
  Add,
};

// "embedding", "rms_norm", "linear", ...: the kind as kernel names and tools spell it.
const char* kernel_kind_name(KernelKind kind);

enum class Epilogue { None, SwiGLU, Residual };

struct KernelSpec {
  KernelKind kind = KernelKind::Add;

  // Linear / Embedding / RmsNorm
  std::vector<WeightDesc> weights;  // Linear: W_i; Embedding: table; RmsNorm: gamma
  std::vector<WeightDesc> biases;   // Linear: empty, or one per weight
  bool has_norm = false;            // Linear: RMSNorm prologue with `norm` as gamma
  WeightDesc norm;
  Epilogue epilogue = Epilogue::None;
  double eps = 1e-6;
  // Linear, opt-in (a compile option recorded in the plan): quantize the activations to int8 per
  // 32 columns and use integer dot products (llama.cpp's path; ~1e-2 relative error instead of
  // the default fp32 path's 1e-3 bound). Weight formats without integer codes (f32, f16, bf16,
  // fp8) ignore it and stay fp32.
  bool int8_activations = false;
  // Linear with fp8e4m3 weights in a prefill function (aprc.fp8_per_token_activations, from
  // aprc-cast-fp8 per-token-activations): each row of the (normalized) input is quantized to two
  // e4m3 terms with the scale max|row| / 448 before the products, at every row count (the
  // interpreter's fp8_per_token). CUDA runs it on the FP8 tensor cores; the CPU rounds the same way
  // and multiplies in f32. Every weight of the step is fp8e4m3.
  bool fp8_activations = false;

  // Rope / KvAppend / Attention
  int64_t heads = 0;     // Rope: heads rotated; Attention: query heads; KvAppend: q heads rotated too (0: none)
  int64_t kv_heads = 0;  // KvAppend / Attention
  int64_t head_dim = 0;
  double theta = 1e6;
  bool rope = false;  // KvAppend: rotate k before appending; Attention: rotate and append first
  float scale = 0;    // Attention: softmax scale (1/sqrt(head_dim))
  DType cache_dtype = DType::F32;

  // Elementwise, RmsNorm, Embedding: row width
  int64_t cols = 0;

  bool operator==(const KernelSpec&) const = default;

  // A stable, readable, unique name, e.g. "linear_norm_q4_k_768x256_q4_k_256x256__swiglu".
  std::string name() const;
};

}  // namespace aprc
