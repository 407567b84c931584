// Synthetic model presets and the tensor types llama.cpp's Q4_K_M mix gives a Qwen2 model.
#include <array>

#include "aprc/error.h"
#include "aprc/synthetic.h"

namespace aprc {
namespace {

struct Preset {
  const char* name;
  int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  bool tied;
};

// Dimensions of the published Qwen2.5 models (shared/docs/formats.md); "tiny" has the shape of
// the test fixture qwen2-tiny-q4km.gguf.
constexpr Preset kPresets[] = {
    {"tiny", 256, 768, 4, 4, 2, 64, 151936, true},
    {"qwen2.5-0.5b", 896, 4864, 24, 14, 2, 64, 151936, true},
    {"qwen2.5-1.5b", 1536, 8960, 28, 12, 2, 128, 151936, true},
    {"qwen2.5-7b", 3584, 18944, 28, 28, 4, 128, 152064, false},
};

constexpr auto kNames = [] {
  std::array<const char*, std::size(kPresets)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kPresets[i].name;
  return names;
}();

// llama.cpp gives some layers more bits: the first and last eighth, and every third in between.
bool use_more_bits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// llama.cpp's fallback when a row is not a whole number of 256-weight super-blocks.
DType with_fallback(DType dtype, int64_t cols) {
  if (cols % 256 == 0) return dtype;
  switch (dtype) {
    case DType::Q4_K:
      return DType::Q5_0;
    case DType::Q6_K:
      return DType::Q8_0;
    default:
      return dtype;
  }
}

}  // namespace

std::span<const char* const> synthetic_preset_names() { return kNames; }

ModelConfig synthetic_config(std::string_view preset) {
  for (const Preset& p : kPresets) {
    if (preset != p.name) continue;
    ModelConfig c;
    c.architecture = "qwen2";
    c.hidden_size = p.hidden;
    c.intermediate_size = p.intermediate;
    c.num_layers = p.layers;
    c.num_heads = p.heads;
    c.num_kv_heads = p.kv_heads;
    c.head_dim = p.head_dim;
    c.vocab_size = p.vocab;
    c.tied_embeddings = p.tied;
    c.rope_theta = 1e6;
    c.rope_type = RopeType::Neox;
    c.rms_norm_eps = 1e-6;
    c.max_position_embeddings = 32768;
    return c;
  }
  std::string known;
  for (const char* n : kNames) known += std::string(known.empty() ? "" : ", ") + n;
  throw_bad_input("unknown synthetic preset '" + std::string(preset) + "' (known: " + known + ")");
}

std::vector<SyntheticTensor> synthetic_tensors(const ModelConfig& c) {
  std::vector<SyntheticTensor> out;
  auto matrix = [&](std::string name, DType dtype, int64_t rows, int64_t cols) {
    out.push_back({std::move(name), with_fallback(dtype, cols), {rows, cols}});
  };
  auto vector = [&](std::string name, int64_t n) { out.push_back({std::move(name), DType::F32, {n}}); };
  const int64_t H = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;

  // The output projection is Q6_K; a tied embedding is the output projection, so it is too.
  matrix("model.embed_tokens.weight", c.tied_embeddings ? DType::Q6_K : DType::Q4_K, c.vocab_size, H);
  if (!c.tied_embeddings) matrix("lm_head.weight", DType::Q6_K, c.vocab_size, H);
  vector("model.norm.weight", H);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const DType more = use_more_bits(i, c.num_layers) ? DType::Q6_K : DType::Q4_K;
    vector(p + "input_layernorm.weight", H);
    matrix(p + "self_attn.q_proj.weight", DType::Q4_K, q, H);
    vector(p + "self_attn.q_proj.bias", q);
    matrix(p + "self_attn.k_proj.weight", DType::Q4_K, kv, H);
    vector(p + "self_attn.k_proj.bias", kv);
    matrix(p + "self_attn.v_proj.weight", more, kv, H);
    vector(p + "self_attn.v_proj.bias", kv);
    matrix(p + "self_attn.o_proj.weight", DType::Q4_K, H, q);
    vector(p + "post_attention_layernorm.weight", H);
    matrix(p + "mlp.gate_proj.weight", DType::Q4_K, c.intermediate_size, H);
    matrix(p + "mlp.up_proj.weight", DType::Q4_K, c.intermediate_size, H);
    matrix(p + "mlp.down_proj.weight", more, H, c.intermediate_size);
  }
  return out;
}

}  // namespace aprc
