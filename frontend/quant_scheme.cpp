#include "aprc/quant_scheme.h"

#include "aprc/error.h"
#include "aprc/model.h"
#include "tensor_names.h"

namespace aprc {
namespace {

constexpr std::pair<QuantScheme, const char*> kNames[] = {
    {QuantScheme::Keep, "keep"}, {QuantScheme::F16, "f16"}, {QuantScheme::Q8_0, "q8_0"}, {QuantScheme::Q4_K_M, "q4_k_m"}};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp's choice of layers that get more bits in its *_M mixes.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// A block format where the row fits it, else llama.cpp's fallback (then f16).
DType fitting(DType wanted, int64_t cols) {
  auto fits = [&](DType d) { return row_bytes(d, cols).has_value(); };
  if (fits(wanted)) return wanted;
  if (wanted == DType::Q4_K && fits(DType::Q5_0)) return DType::Q5_0;
  if (wanted == DType::Q5_K && fits(DType::Q5_0)) return DType::Q5_0;
  if (wanted == DType::Q6_K && fits(DType::Q8_0)) return DType::Q8_0;
  return DType::F16;
}

}  // namespace

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name) {
  for (const auto& [scheme, n] : kNames)
    if (name == n) return scheme;
  return std::nullopt;
}

const char* quant_scheme_name(QuantScheme scheme) {
  for (const auto& [s, n] : kNames)
    if (s == scheme) return n;
  return "?";
}

void check_quant_overrides(const QuantOverrides& overrides, const ModelConfig& config, const std::string& what) {
  for (const auto& o : {overrides.embedding, overrides.output}) {
    if (!o) continue;
    switch (*o) {
      case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q5_0:
      case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: break;
      default:
        throw_bad_input(what + ": aprc does not write a whole tensor as " + dtype_name(*o) +
                        " (f32, f16, bf16, q8_0, q5_0, q4_k, q5_k, q6_k)");
    }
  }
  if (config.tied_embeddings && overrides.embedding && overrides.output)
    throw_bad_input(what + ": the model's embedding is its output projection (tied): give the embedding type or the "
                           "output type, not both");
}

DType quant_type(QuantScheme scheme, const ModelConfig& config, const std::string& name,
                 std::span<const int64_t> shape, DType source, const QuantOverrides& overrides) {
  const bool is_embedding = name == names::embed_tokens(), is_output = name == names::lm_head();
  const auto& wanted = config.tied_embeddings && (is_embedding || is_output)
                           ? (overrides.embedding ? overrides.embedding : overrides.output)
                           : (is_embedding ? overrides.embedding : is_output ? overrides.output : std::nullopt);
  if (wanted && shape.size() >= 2) return fitting(*wanted, shape.back());
  if (scheme == QuantScheme::Keep) return source;
  if (shape.size() < 2) return DType::F32;  // llama-quantize leaves 1-D tensors alone: f32 from the converter
  const int64_t cols = shape.back();
  switch (scheme) {
    case QuantScheme::Keep: return source;
    case QuantScheme::F16: return DType::F16;
    case QuantScheme::Q8_0: return fitting(DType::Q8_0, cols);
    case QuantScheme::Q4_K_M: break;
  }
  const bool output = is_output || (config.tied_embeddings && is_embedding);
  if (output) return fitting(DType::Q6_K, cols);
  if (const auto layer = layer_index(name);
      layer && (ends_with(name, ".self_attn.v_proj.weight") || ends_with(name, ".mlp.down_proj.weight")) &&
      use_more_bits(*layer, config.num_layers))
    return fitting(DType::Q6_K, cols);
  return fitting(DType::Q4_K, cols);
}

}  // namespace aprc
