#include "ir_test_model.h"

#include <cmath>
#include <random>
#include <string>

namespace aprc::testing {

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = static_cast<int32_t>(rng() % vocab);
  return ids;
}

std::vector<uint8_t> random_tensor(DType dtype, int64_t rows, int64_t cols, float magnitude, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, magnitude);
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = normal(rng);
  return quantize_tensor(dtype, values.data(), rows, cols);
}

std::unique_ptr<TestModel> make_test_model(const TestModelSpec& spec) {
  auto out = std::make_unique<TestModel>();
  Model& m = out->model;
  m.format = "synthetic";
  m.path = "synthetic-model";
  ModelConfig& c = m.config;
  c.hidden_size = spec.hidden;
  c.num_layers = spec.layers;
  c.num_heads = spec.heads;
  c.num_kv_heads = spec.kv_heads;
  c.head_dim = spec.head_dim;
  c.intermediate_size = spec.intermediate;
  c.vocab_size = spec.vocab;
  c.max_position_embeddings = spec.max_positions;
  c.tied_embeddings = spec.tied;
  uint32_t seed = spec.seed * 1000;

  // Weights of about 1/sqrt(in) keep every layer's outputs near unit scale.
  auto add = [&](const std::string& name, DType dtype, std::vector<int64_t> shape, float magnitude) {
    const int64_t rows = shape.size() == 2 ? shape[0] : 1;
    out->storage.push_back(random_tensor(dtype, rows, shape.back(), magnitude, ++seed));
    TensorRef t;
    t.name = t.source_name = name;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes = out->storage.back();
    m.tensors[name] = t;
  };
  auto matrix = [&](const std::string& name, DType dtype, int64_t rows, int64_t cols) {
    add(name, dtype, {rows, cols}, 1.0f / std::sqrt(static_cast<float>(cols)));
  };
  // Gammas are 1 + noise: random values around zero would cancel the norm's scaling.
  auto gamma = [&](const std::string& name, DType dtype) {
    std::mt19937 rng(++seed);
    std::normal_distribution<float> noise(1.0f, 0.1f);
    std::vector<float> values(static_cast<size_t>(spec.hidden));
    for (float& v : values) v = noise(rng);
    out->storage.push_back(quantize_tensor(dtype, values.data(), 1, spec.hidden));
    TensorRef t;
    t.name = t.source_name = name;
    t.dtype = dtype;
    t.shape = {spec.hidden};
    t.bytes = out->storage.back();
    m.tensors[name] = t;
  };

  const int64_t h = spec.hidden, q = spec.heads * spec.head_dim, kv = spec.kv_heads * spec.head_dim;
  const int64_t ff = spec.intermediate;
  matrix(names::embed_tokens(), spec.embed, spec.vocab, h);
  for (int64_t i = 0; i < spec.layers; ++i) {
    auto n = [&](const char* rest) { return names::layer(i, rest); };
    gamma(n("input_layernorm.weight"), spec.norm);
    matrix(n("self_attn.q_proj.weight"), spec.q, q, h);
    matrix(n("self_attn.k_proj.weight"), spec.k, kv, h);
    matrix(n("self_attn.v_proj.weight"), spec.v, kv, h);
    if (spec.qkv_biases) {
      add(n("self_attn.q_proj.bias"), spec.bias, {q}, 0.1f);
      add(n("self_attn.k_proj.bias"), spec.bias, {kv}, 0.1f);
      add(n("self_attn.v_proj.bias"), spec.bias, {kv}, 0.1f);
    }
    matrix(n("self_attn.o_proj.weight"), spec.o, h, q);
    gamma(n("post_attention_layernorm.weight"), spec.norm);
    matrix(n("mlp.gate_proj.weight"), spec.gate, ff, h);
    matrix(n("mlp.up_proj.weight"), spec.up, ff, h);
    matrix(n("mlp.down_proj.weight"), spec.down, h, ff);
  }
  gamma(names::final_norm(), spec.norm);
  if (!spec.tied) matrix(names::lm_head(), spec.lm_head, spec.vocab, h);
  return out;
}

std::unique_ptr<TestModel> with_tensors_replaced(const Model& model, const std::regex& which, DType dtype,
                                                 const std::function<std::vector<uint8_t>(const TensorRef&)>& convert) {
  auto out = std::make_unique<TestModel>();
  out->model = model;
  out->storage.reserve(model.tensors.size());
  for (auto& [name, tensor] : out->model.tensors) {
    if (!std::regex_search(name, which)) continue;
    out->storage.push_back(convert(tensor));
    tensor.dtype = dtype;
    tensor.bytes = out->storage.back();
  }
  return out;
}

}  // namespace aprc::testing
