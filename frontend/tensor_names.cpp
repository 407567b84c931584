#include "tensor_names.h"

#include <charconv>

namespace aprc {
namespace {

struct Rename {
  std::string_view gguf;
  std::string_view hf;
};

// Whole-model tensors.
constexpr Rename kGlobal[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
};

// Per-layer tensors: blk.N.<gguf> -> model.layers.N.<hf>.
constexpr Rename kLayer[] = {
    {"attn_norm", "input_layernorm"},        {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},          {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},     {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},           {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

// Splits "stem.suffix" where suffix is "weight" or "bias".
bool split_suffix(std::string_view name, std::string_view* stem, std::string_view* suffix) {
  for (std::string_view s : {std::string_view(".weight"), std::string_view(".bias")}) {
    if (name.size() > s.size() && name.substr(name.size() - s.size()) == s) {
      *stem = name.substr(0, name.size() - s.size());
      *suffix = s;
      return true;
    }
  }
  return false;
}

// Parses a decimal index without sign or leading zeros (so the mapping is one-to-one).
std::optional<int64_t> parse_index(std::string_view s) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string canonical_tensor_name(std::string_view name) {
  std::string_view stem, suffix;
  if (!split_suffix(name, &stem, &suffix)) return std::string(name);
  for (const Rename& r : kGlobal)
    if (stem == r.gguf) return std::string(r.hf) + std::string(suffix);
  constexpr std::string_view kBlk = "blk.";
  if (stem.substr(0, kBlk.size()) != kBlk) return std::string(name);
  const std::string_view rest = stem.substr(kBlk.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::string(name);
  const auto index = parse_index(rest.substr(0, dot));
  if (!index) return std::string(name);
  const std::string_view part = rest.substr(dot + 1);
  for (const Rename& r : kLayer)
    if (part == r.gguf)
      return "model.layers." + std::to_string(*index) + "." + std::string(r.hf) + std::string(suffix);
  return std::string(name);
}

std::optional<std::string> gguf_tensor_name(std::string_view name) {
  std::string_view stem, suffix;
  if (!split_suffix(name, &stem, &suffix)) return std::nullopt;
  for (const Rename& r : kGlobal)
    if (stem == r.hf) return std::string(r.gguf) + std::string(suffix);
  const auto index = layer_index(name);
  if (!index) return std::nullopt;
  const std::string prefix = "model.layers." + std::to_string(*index) + ".";
  const std::string_view part = stem.substr(prefix.size());
  for (const Rename& r : kLayer)
    if (part == r.hf) return "blk." + std::to_string(*index) + "." + std::string(r.gguf) + std::string(suffix);
  return std::nullopt;
}

std::optional<int64_t> layer_index(std::string_view name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = name.substr(kPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  return parse_index(rest.substr(0, dot));
}

}  // namespace aprc
