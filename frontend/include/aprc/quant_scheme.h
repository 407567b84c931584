// Which tensor format each tensor of a model gets when aprc writes a file (`aprc import --quant`),
// following llama.cpp's llama-quantize so that aprc's files look like the ones users already have.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "aprc/formats/formats.h"
#include "aprc/model_config.h"

namespace aprc {

enum class QuantScheme {
  Keep,    // every tensor as the source stores it
  F16,     // matrices f16; 1-D tensors (norms, biases) f32
  Q8_0,    // matrices q8_0 (f16 where a row is not whole 32-weight blocks); 1-D f32
  Q4_K_M,  // llama.cpp's Q4_K_M mix (below); 1-D f32
};

// Formats that replace the scheme's choice for one tensor, as llama-quantize's --token-embedding-type
// and --output-tensor-type do (`aprc import --embedding-type / --output-type`). A tied model's
// embedding is its output projection: either applies to it (quant_overrides_check: not both).
struct QuantOverrides {
  std::optional<DType> embedding;  // model.embed_tokens.weight
  std::optional<DType> output;     // lm_head.weight (the embedding of a tied model)
};

// "keep", "f16", "q8_0", "q4_k_m"; nullopt for anything else.
std::optional<QuantScheme> quant_scheme_from_name(std::string_view name);
const char* quant_scheme_name(QuantScheme scheme);

// The format of tensor `canonical_name` (Hugging Face spelling; "lm_head.weight" for the output)
// of `shape` (outermost first) stored as `source` in a model of `config`. Q4_K_M as llama.cpp's
// llama_tensor_get_type gives it for qwen2: Q4_K, except Q6_K for the output projection (the
// embedding, when tied) and for attn_v / ffn_down of the layers where use_more_bits(i, n) holds
// (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2); a row that is not whole 256-weight blocks falls back
// as llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_0 (llama.cpp: Q5_1, which aprc does not write),
// Q6_K -> Q8_0; f16 where even 32-weight blocks do not fit). An override replaces the choice for
// its tensor (with the same fallbacks), under every scheme.
DType quant_type(QuantScheme scheme, const ModelConfig& config, const std::string& canonical_name,
                 std::span<const int64_t> shape, DType source, const QuantOverrides& overrides = {});

// The overrides' formats must be ones aprc writes into 2-D block rows (f32, f16, bf16, q8_0, q5_0,
// q4_k, q5_k, q6_k), and a tied model takes at most one of them. Error(BadInput) naming `what`
// (the option or the file) otherwise.
void check_quant_overrides(const QuantOverrides& overrides, const ModelConfig& config, const std::string& what);

}  // namespace aprc
