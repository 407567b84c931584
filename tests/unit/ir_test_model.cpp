#include "ir_test_model.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

#include "aprc/formats/blocks.h"

namespace aprc::testing {
namespace {

// A positive f16 of about `target` (random mantissa), built from its bits: exponent from log2.
uint16_t f16_near(double target, std::mt19937& rng) {
  int exponent = static_cast<int>(std::floor(std::log2(target))) + 15;
  exponent = std::max(1, std::min(30, exponent));
  return static_cast<uint16_t>(exponent << 10 | (rng() & 0x3FF));
}

void put_u16(uint8_t* dst, uint16_t v) { std::memcpy(dst, &v, 2); }
void put_f32(uint8_t* dst, float v) { std::memcpy(dst, &v, 4); }

// The offsets of a block's f16 scale fields and the magnitude each gets, for weights of about m.
struct ScaleField {
  size_t offset;
  double per_weight;  // the field's value is m * per_weight
};

std::vector<ScaleField> scale_fields(DType dtype) {
  switch (dtype) {
    case DType::Q8_0: return {{offsetof(aprc_block_q8_0, d), 1.0 / 64}};
    case DType::Q5_0: return {{offsetof(aprc_block_q5_0, d), 1.0 / 8}};
    case DType::Q4_K: return {{offsetof(aprc_block_q4_k, d), 1.0 / 256}, {offsetof(aprc_block_q4_k, dmin), 1.0 / 32}};
    case DType::Q5_K: return {{offsetof(aprc_block_q5_k, d), 1.0 / 512}, {offsetof(aprc_block_q5_k, dmin), 1.0 / 32}};
    case DType::Q6_K: return {{offsetof(aprc_block_q6_k, d), 1.0 / 1024}};
    case DType::AprQ4: return {{offsetof(aprc_block_aprq4, d), 1.0 / 4}};
    default: return {};
  }
}

// Floats in a plain float encoding. f16 keeps the sign and about the magnitude (f16_near), which is
// all a random test value needs; bf16 truncates.
std::vector<uint8_t> encode_floats(DType dtype, const std::vector<float>& values, std::mt19937& rng) {
  std::vector<uint8_t> bytes(values.size() * format_info(dtype).block_bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    switch (dtype) {
      case DType::F32: put_f32(&bytes[4 * i], v); break;
      case DType::F16: put_u16(&bytes[2 * i], static_cast<uint16_t>((v < 0 ? 0x8000 : 0) | f16_near(std::fabs(v), rng))); break;
      case DType::BF16: put_u16(&bytes[2 * i], static_cast<uint16_t>(bits >> 16)); break;
      default: throw std::invalid_argument("encode_floats: not a plain float encoding");
    }
  }
  return bytes;
}

}  // namespace

std::vector<uint8_t> random_tensor(DType dtype, int64_t rows, int64_t cols, float magnitude, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, magnitude);
  const int64_t shape[2] = {rows, cols};
  const auto total = tensor_bytes(dtype, shape);
  if (!total) throw std::invalid_argument("random_tensor: bad shape for " + std::string(dtype_name(dtype)));
  std::vector<uint8_t> bytes(*total);
  const int64_t n = rows * cols;
  switch (dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: {
      std::vector<float> values(static_cast<size_t>(n));
      for (float& v : values) v = normal(rng);
      return encode_floats(dtype, values, rng);
    }
    case DType::AprQ8:
      put_f32(bytes.data(), magnitude / 64);
      for (int64_t i = 0; i < n; ++i) bytes[4 + i] = static_cast<uint8_t>(rng());
      return bytes;
    case DType::FP8_E4M3:
      // Exponent field 4..8 (values 2^-3 .. 2^2, never NaN), then one f32 scale per row.
      for (int64_t i = 0; i < n; ++i)
        bytes[i] = static_cast<uint8_t>((rng() & 0x80) | (4 + rng() % 5) << 3 | (rng() & 7));
      for (int64_t r = 0; r < rows; ++r) put_f32(&bytes[n + 4 * r], magnitude);
      return bytes;
    default:
      break;
  }
  const std::vector<ScaleField> fields = scale_fields(dtype);
  if (fields.empty()) throw std::invalid_argument("random_tensor: no generator for " + std::string(dtype_name(dtype)));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const size_t block_bytes = format_info(dtype).block_bytes;
  for (size_t block = 0; block < bytes.size() / block_bytes; ++block)
    for (const ScaleField& f : fields) put_u16(&bytes[block * block_bytes + f.offset], f16_near(magnitude * f.per_weight, rng));
  return bytes;
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
    out->storage.push_back(encode_floats(dtype, values, rng));
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

}  // namespace aprc::testing
