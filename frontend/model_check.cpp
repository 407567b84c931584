#include <cmath>

#include "aprc/error.h"
#include "aprc/model.h"
#include "byte_reader.h"
#include "tensor_names.h"

namespace aprc {
namespace {

void require_range(const std::string& path, const char* key, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw_bad_input(path + ": config '" + key + "' is " + std::to_string(v) + ", expected " + std::to_string(lo) +
                    " to " + std::to_string(hi));
}

std::string where(const Model& m, const TensorRef& t) {
  std::string file = t.file_path().empty() ? m.path : t.file_path();
  std::string s = file + ": tensor '" + t.name + "'";
  if (!t.source_name.empty() && t.source_name != t.name) s += " ('" + t.source_name + "' in the file)";
  return s;
}

struct Expect {
  std::string name;
  std::vector<int64_t> shape;
  const char* meaning;  // how the shape follows from the config
  bool required;
};

}  // namespace

void check_config(const ModelConfig& c, const std::string& path) {
  if (c.architecture != "qwen2")
    throw_bad_input(path + ": architecture '" + c.architecture + "' is not supported (aprc compiles qwen2)");
  require_range(path, "hidden_size", c.hidden_size, 1, 1 << 20);
  require_range(path, "num_layers", c.num_layers, 1, 4096);
  require_range(path, "num_heads", c.num_heads, 1, 4096);
  require_range(path, "num_kv_heads", c.num_kv_heads, 1, c.num_heads);
  require_range(path, "head_dim", c.head_dim, 2, 4096);
  require_range(path, "intermediate_size", c.intermediate_size, 1, 1 << 22);
  require_range(path, "vocab_size", c.vocab_size, 1, 1 << 24);
  require_range(path, "max_position_embeddings", c.max_position_embeddings, 1, int64_t{1} << 31);
  if (c.num_heads % c.num_kv_heads != 0)
    throw_bad_input(path + ": config 'num_kv_heads' (" + std::to_string(c.num_kv_heads) +
                    ") does not divide 'num_heads' (" + std::to_string(c.num_heads) + ")");
  if (c.head_dim % 2 != 0)
    throw_bad_input(path + ": config 'head_dim' (" + std::to_string(c.head_dim) + ") must be even for RoPE");
  if (!(std::isfinite(c.rope_theta) && c.rope_theta > 0))
    throw_bad_input(path + ": config 'rope_theta' must be a positive number, got " + std::to_string(c.rope_theta));
  if (!(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0 && c.rms_norm_eps < 1))
    throw_bad_input(path + ": config 'rms_norm_eps' must be in (0, 1), got " + std::to_string(c.rms_norm_eps));
}

void check_model(const Model& m) {
  const ModelConfig& c = m.config;
  check_config(c, m.path);
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t Q = c.num_heads * c.head_dim, KV = c.num_kv_heads * c.head_dim;

  std::vector<Expect> expect = {
      {names::embed_tokens(), {V, H}, "vocab_size, hidden_size", true},
      {names::final_norm(), {H}, "hidden_size", true},
      {names::lm_head(), {V, H}, "vocab_size, hidden_size", !c.tied_embeddings},
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    auto L = [&](const char* rest) { return names::layer(l, rest); };
    expect.push_back({L("input_layernorm.weight"), {H}, "hidden_size", true});
    expect.push_back({L("post_attention_layernorm.weight"), {H}, "hidden_size", true});
    expect.push_back({L("self_attn.q_proj.weight"), {Q, H}, "num_heads*head_dim, hidden_size", true});
    expect.push_back({L("self_attn.k_proj.weight"), {KV, H}, "num_kv_heads*head_dim, hidden_size", true});
    expect.push_back({L("self_attn.v_proj.weight"), {KV, H}, "num_kv_heads*head_dim, hidden_size", true});
    expect.push_back({L("self_attn.o_proj.weight"), {H, Q}, "hidden_size, num_heads*head_dim", true});
    expect.push_back({L("self_attn.q_proj.bias"), {Q}, "num_heads*head_dim", false});
    expect.push_back({L("self_attn.k_proj.bias"), {KV}, "num_kv_heads*head_dim", false});
    expect.push_back({L("self_attn.v_proj.bias"), {KV}, "num_kv_heads*head_dim", false});
    expect.push_back({L("self_attn.o_proj.bias"), {H}, "hidden_size", false});
    expect.push_back({L("mlp.gate_proj.weight"), {I, H}, "intermediate_size, hidden_size", true});
    expect.push_back({L("mlp.up_proj.weight"), {I, H}, "intermediate_size, hidden_size", true});
    expect.push_back({L("mlp.down_proj.weight"), {H, I}, "hidden_size, intermediate_size", true});
  }
  // Tensors the config does not allow (a layer beyond num_layers) and byte sizes first, so that a
  // renamed or stray tensor is named as such rather than reported as another one missing.
  for (const auto& [name, t] : m.tensors) {
    if (auto l = layer_index(name); l && *l >= c.num_layers)
      throw_bad_input(where(m, t) + ": layer " + std::to_string(*l) + " is beyond the config's num_layers (" +
                      std::to_string(c.num_layers) + ")");
    const auto expected = tensor_bytes(t.dtype, t.shape);
    if (!expected || *expected != t.bytes.size())
      throw_bad_input(where(m, t) + ": holds " + std::to_string(t.bytes.size()) + " bytes, but a " +
                      dtype_name(t.dtype) + " tensor of shape " + shape_string(t.shape) + " needs " +
                      (expected ? std::to_string(*expected) : std::string("a whole number of blocks per row")));
  }

  for (const Expect& e : expect) {
    const TensorRef* t = m.find(e.name);
    if (!t) {
      if (e.required)
        throw_bad_input(m.path + ": missing tensor '" + e.name + "'" +
                        (e.name == names::lm_head() ? " (the model's embeddings are not tied)" : ""));
      continue;
    }
    if (t->shape != e.shape)
      throw_bad_input(where(m, *t) + ": shape " + shape_string(t->shape) + " disagrees with the config: expected " +
                      shape_string(e.shape) + " (" + e.meaning + ")");
    if (!format_info(t->dtype).is_float_weight)
      throw_bad_input(where(m, *t) + ": dtype " + dtype_name(t->dtype) + " cannot hold weights");
  }
  const TokenizerData& tok = m.tokenizer;
  // Models built in memory may leave the counts at 0; loaded ones may have dropped the strings.
  const int64_t n_tokens = tok.tokens.empty() ? m.tokenizer_tokens : static_cast<int64_t>(tok.tokens.size());
  if (n_tokens > V)
    throw_bad_input(m.path + ": the tokenizer has " + std::to_string(n_tokens) +
                    " tokens, more than the model's vocab_size (" + std::to_string(V) + ")");
  if (!tok.token_types.empty() && static_cast<int64_t>(tok.token_types.size()) != n_tokens)
    throw_bad_input(m.path + ": the tokenizer has " + std::to_string(tok.token_types.size()) + " token types for " +
                    std::to_string(n_tokens) + " tokens");
  for (auto [key, id] : {std::pair{"bos_token_id", tok.bos_id}, std::pair{"eos_token_id", tok.eos_id},
                         std::pair{"padding_token_id", tok.pad_id}}) {
    if (id < -1 || (id >= 0 && (n_tokens == 0 ? id >= V : id >= n_tokens)))
      throw_bad_input(m.path + ": tokenizer '" + key + "' is " + std::to_string(id) + ", outside the vocabulary (" +
                      std::to_string(n_tokens ? n_tokens : V) + " tokens)");
  }
}

}  // namespace aprc
