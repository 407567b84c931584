// A synthetic Qwen2.5 model for the CUDA backend, benchmark-only: the real dimensions, Q4_K_M-style
// weight types (llama.cpp's choice: Q4_K, Q6_K for attn_v / ffn_down on "more bits" layers and for the
// output, Q5_0 / Q8_0 where a row length is not a multiple of 256), random weights written directly in
// the cuda_* layouts, and the fused schedules a plan would hold: per layer norm+qkv(+bias), rope+kv
// append, rope(q), attention, o_proj+residual, norm+gate/up+SwiGLU, down+residual; then norm+logits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aprc/cuda/engine.h"
#include "aprc/schedule.h"

namespace aprc::cuda::synthetic {

struct Config {
  std::string name;
  int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  double theta = 1e6, eps = 1e-6;
  bool tied = false;
  // Every linear weight of the layers fp8e4m3 with per-channel scales (what aprc-cast-fp8 gives by
  // default; the output projection keeps its Q6_K, a tied one the embedding's Q4_K), and the
  // prefill's linears with per-token fp8 activations on the FP8 tensor cores (fp8.cuh). Decode reads
  // the fp8 weights with f32 activations.
  bool fp8 = false;
};

// "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", or "tiny" (2 layers, for tests). Throws on others.
Config config(const std::string& name);

struct Model {
  Config cfg;
  std::vector<WeightDesc> weights;  // index = Arg{Weight, index}
  std::vector<std::string> weight_names;
  std::vector<std::vector<uint8_t>> bytes;  // in their layouts (empty unless generated)
  std::vector<Function> functions;          // "prefill_last" (logits of the last position) and "decode"
  KvCacheDesc kv;
  uint64_t weight_bytes_per_token = 0;  // bytes of every weight a decode step reads once
};

// Builds the schedules (already passed through assign_cuda_launch) and, when `generate`, the weights
// (`threads` threads; deterministic for a seed).
Model build(const Config& cfg, int64_t prefill_tokens, uint64_t seed, bool generate, int threads = 8);

// The dtype llama.cpp's Q4_K_M picks for a weight of `cols` columns that wants `want`.
DType q4km_type(DType want, int64_t cols);

}  // namespace aprc::cuda::synthetic
