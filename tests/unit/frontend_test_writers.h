// Test-side writers for the formats aprc reads: a small GGUF writer (also re-emits values parsed
// from another file, to split the fixture into a set), a safetensors writer, and a tiny synthetic
// Qwen2 model in memory. They are written from the format descriptions, not from the readers.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/gguf.h"
#include "aprc/model.h"
#include "frontend_test_util.h"

namespace aprc::testing {

// ---------------------------------------------------------------------------------------------
// GGUF
// ---------------------------------------------------------------------------------------------

struct GgufKV {
  std::string key;
  uint32_t type;                 // GGUF value type
  std::vector<uint8_t> payload;  // the value's bytes after the type
};

// resize + memcpy rather than insert: GCC 12 warns falsely about inserts into fresh vectors.
inline void append_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  if (n) std::memcpy(out.data() + at, p, n);
}
template <class T>
void append(std::vector<uint8_t>& out, T v) {
  append_bytes(out, &v, sizeof v);
}
inline void append_string(std::vector<uint8_t>& out, const std::string& s) {
  append<uint64_t>(out, s.size());
  append_bytes(out, s.data(), s.size());
}

inline GgufKV kv_u32(const std::string& k, uint32_t v) {
  GgufKV kv{k, 4, {}};
  append(kv.payload, v);
  return kv;
}
inline GgufKV kv_f32(const std::string& k, float v) {
  GgufKV kv{k, 6, {}};
  append(kv.payload, v);
  return kv;
}
inline GgufKV kv_bool(const std::string& k, bool v) { return GgufKV{k, 7, {static_cast<uint8_t>(v)}}; }
inline GgufKV kv_str(const std::string& k, const std::string& v) {
  GgufKV kv{k, 8, {}};
  append_string(kv.payload, v);
  return kv;
}
inline GgufKV kv_strs(const std::string& k, const std::vector<std::string>& v) {
  GgufKV kv{k, 9, {}};
  append<uint32_t>(kv.payload, 8);
  append<uint64_t>(kv.payload, v.size());
  for (const auto& s : v) append_string(kv.payload, s);
  return kv;
}
inline GgufKV kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
  GgufKV kv{k, 9, {}};
  append<uint32_t>(kv.payload, 5);
  append<uint64_t>(kv.payload, v.size());
  for (int32_t x : v) append(kv.payload, x);
  return kv;
}

// Re-encodes a value parsed from another file.
inline GgufKV kv_copy(const std::string& k, const GgufValue& v) {
  GgufKV kv{k, static_cast<uint32_t>(v.type), {}};
  switch (v.type) {
    case GgufType::U8: case GgufType::Bool: append<uint8_t>(kv.payload, static_cast<uint8_t>(v.u)); break;
    case GgufType::I8: append<int8_t>(kv.payload, static_cast<int8_t>(v.i)); break;
    case GgufType::U16: append<uint16_t>(kv.payload, static_cast<uint16_t>(v.u)); break;
    case GgufType::I16: append<int16_t>(kv.payload, static_cast<int16_t>(v.i)); break;
    case GgufType::U32: append<uint32_t>(kv.payload, static_cast<uint32_t>(v.u)); break;
    case GgufType::I32: append<int32_t>(kv.payload, static_cast<int32_t>(v.i)); break;
    case GgufType::U64: append<uint64_t>(kv.payload, v.u); break;
    case GgufType::I64: append<int64_t>(kv.payload, v.i); break;
    case GgufType::F32: append<float>(kv.payload, static_cast<float>(v.f)); break;
    case GgufType::F64: append<double>(kv.payload, v.f); break;
    case GgufType::String: append_string(kv.payload, std::string(v.str)); break;
    case GgufType::Array:
      append<uint32_t>(kv.payload, static_cast<uint32_t>(v.elem_type));
      append<uint64_t>(kv.payload, v.count);
      append_bytes(kv.payload, v.elems.data(), v.elems.size());
      break;
  }
  return kv;
}

struct GgufTensorOut {
  std::string name;
  uint32_t ggml_type;
  std::vector<uint64_t> ne;  // innermost first
  std::vector<uint8_t> data;
};

// The bytes of a GGUF v3 file: header, key-values, tensor infos, padding to `alignment`, data
// (each tensor at a multiple of `alignment`).
inline std::vector<uint8_t> gguf_bytes(const std::vector<GgufKV>& kvs, const std::vector<GgufTensorOut>& tensors,
                                       uint64_t alignment = 32) {
  std::vector<uint8_t> out;
  append_bytes(out, "GGUF", 4);
  append<uint32_t>(out, 3);
  append<uint64_t>(out, tensors.size());
  append<uint64_t>(out, kvs.size());
  for (const GgufKV& kv : kvs) {
    append_string(out, kv.key);
    append<uint32_t>(out, kv.type);
    append_bytes(out, kv.payload.data(), kv.payload.size());
  }
  uint64_t offset = 0;
  for (const GgufTensorOut& t : tensors) {
    append_string(out, t.name);
    append<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) append<uint64_t>(out, n);
    append<uint32_t>(out, t.ggml_type);
    append<uint64_t>(out, offset);
    offset = (offset + t.data.size() + alignment - 1) / alignment * alignment;
  }
  out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
  for (const GgufTensorOut& t : tensors) {
    append_bytes(out, t.data.data(), t.data.size());
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

struct StTensorOut {
  std::string name;
  std::string dtype;  // "BF16", "F32", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

inline std::vector<uint8_t> safetensors_bytes(const std::vector<StTensorOut>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const StTensorOut& t : tensors) {
    header.append(",\"").append(t.name).append("\":{\"dtype\":\"").append(t.dtype).append("\",\"shape\":[");
    for (size_t i = 0; i < t.shape.size(); ++i) header.append(i ? "," : "").append(std::to_string(t.shape[i]));
    header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    header.append(std::to_string(offset + t.data.size())).append("]}");
    offset += t.data.size();
  }
  header += "}";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::vector<uint8_t> out;
  append<uint64_t>(out, header.size());
  append_bytes(out, header.data(), header.size());
  for (const StTensorOut& t : tensors) append_bytes(out, t.data.data(), t.data.size());
  return out;
}

// ---------------------------------------------------------------------------------------------
// A tiny synthetic Qwen2 model
// ---------------------------------------------------------------------------------------------

inline ModelConfig tiny_config() {
  ModelConfig c;
  c.architecture = "qwen2";
  c.hidden_size = 256;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.intermediate_size = 512;
  c.vocab_size = 300;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.max_position_embeddings = 2048;
  c.tied_embeddings = true;
  return c;
}

// A smaller one still (one layer, hidden 32): files of about 30 KB in f32, for tests that try every
// byte and for fuzz seeds.
inline ModelConfig small_config() {
  ModelConfig c = tiny_config();
  c.hidden_size = 32;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 16;
  c.intermediate_size = 32;
  c.vocab_size = 40;
  return c;
}

// name -> shape for every tensor of `c` (Hugging Face names, [out, in]).
inline std::vector<std::pair<std::string, std::vector<int64_t>>> tiny_tensor_shapes(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.num_heads * c.head_dim,
                KV = c.num_kv_heads * c.head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> s = {
      {"model.embed_tokens.weight", {c.vocab_size, H}}, {"model.norm.weight", {H}}};
  if (!c.tied_embeddings) s.push_back({"lm_head.weight", {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.push_back({p + "input_layernorm.weight", {H}});
    s.push_back({p + "post_attention_layernorm.weight", {H}});
    s.push_back({p + "self_attn.q_proj.weight", {Q, H}});
    s.push_back({p + "self_attn.q_proj.bias", {Q}});
    s.push_back({p + "self_attn.k_proj.weight", {KV, H}});
    s.push_back({p + "self_attn.k_proj.bias", {KV}});
    s.push_back({p + "self_attn.v_proj.weight", {KV, H}});
    s.push_back({p + "self_attn.v_proj.bias", {KV}});
    s.push_back({p + "self_attn.o_proj.weight", {H, Q}});
    s.push_back({p + "mlp.gate_proj.weight", {I, H}});
    s.push_back({p + "mlp.up_proj.weight", {I, H}});
    s.push_back({p + "mlp.down_proj.weight", {H, I}});
  }
  return s;
}

inline TokenizerData tiny_tokenizer(int64_t vocab) {
  TokenizerData t;
  // The last 10 ids are control tokens.
  for (int64_t i = 0; i < vocab; ++i) {
    const bool control = i >= vocab - 10;
    t.tokens.push_back(control ? "<|special" + std::to_string(i) + "|>" : "t" + std::to_string(i));
    t.token_types.push_back(control ? TokenType::Control : TokenType::Normal);
  }
  t.merges = {"t 1", "t1 2", "Ġ t"};
  t.bos_id = vocab - 9;
  t.eos_id = vocab - 8;
  t.pad_id = vocab - 9;
  t.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
  return t;
}

// Random weights; matrices (2-D) in `matrix_dtype`, vectors in f32. The bytes live in one
// anonymous mapping the tensors share.
inline Model tiny_model(const ModelConfig& c, DType matrix_dtype, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> blobs;
  const auto shapes = tiny_tensor_shapes(c);
  size_t total = 0;
  for (const auto& [name, shape] : shapes) {
    const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
    std::vector<float> x(static_cast<size_t>(rows * cols));
    for (float& v : x) v = g(rng) + (shape.size() == 1 ? 1.0f : 0.0f);
    blobs.emplace_back(name, quantize_tensor(shape.size() == 2 ? matrix_dtype : DType::F32, x.data(), rows, cols));
    total += (blobs.back().second.size() + 63) / 64 * 64;
  }
  auto file = MappedFile::anonymous("tiny-model", total, [&](uint8_t* p) {
    for (const auto& [name, b] : blobs) {
      std::memcpy(p, b.data(), b.size());
      p += (b.size() + 63) / 64 * 64;
    }
  });
  Model m;
  m.format = "synthetic";
  m.path = "tiny-model";
  m.config = c;
  const uint8_t* p = file->data();
  for (size_t k = 0; k < shapes.size(); ++k) {
    TensorRef t;
    t.name = t.source_name = shapes[k].first;
    t.shape = shapes[k].second;
    t.dtype = t.shape.size() == 2 ? matrix_dtype : DType::F32;
    t.bytes = {p, blobs[k].second.size()};
    t.file = file;
    p += (blobs[k].second.size() + 63) / 64 * 64;
    m.tensors.emplace(t.name, std::move(t));
  }
  m.tokenizer = tiny_tokenizer(c.vocab_size);
  m.tokenizer_tokens = c.vocab_size;
  m.tokenizer_merges = static_cast<int64_t>(m.tokenizer.merges.size());
  return m;
}

// The GGUF name of a Hugging Face tensor name (spelled out here, independently of the reader).
inline std::string gguf_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kWhole[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  for (auto [a, b] : kWhole)
    if (hf == a) return b;
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"}, {"self_attn.q_proj", "attn_q"},
      {"self_attn.k_proj", "attn_k"},   {"self_attn.v_proj", "attn_v"},           {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},                {"mlp.down_proj", "ffn_down"}};
  const std::string prefix = "model.layers.";
  const size_t dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  const std::string rest = hf.substr(dot + 1);
  for (auto [a, b] : kLayer) {
    const std::string pa = a;
    if (rest.compare(0, pa.size(), pa) == 0) return "blk." + layer + "." + b + rest.substr(pa.size());
  }
  return hf;
}

// A model as a GGUF file (qwen2 keys, tokenizer.ggml.*).
inline std::vector<uint8_t> model_gguf_bytes(const Model& m, std::vector<GgufKV> extra = {}) {
  const ModelConfig& c = m.config;
  std::vector<GgufKV> kvs = {
      kv_str("general.architecture", "qwen2"),
      kv_u32("qwen2.block_count", static_cast<uint32_t>(c.num_layers)),
      kv_u32("qwen2.context_length", static_cast<uint32_t>(c.max_position_embeddings)),
      kv_u32("qwen2.embedding_length", static_cast<uint32_t>(c.hidden_size)),
      kv_u32("qwen2.feed_forward_length", static_cast<uint32_t>(c.intermediate_size)),
      kv_u32("qwen2.attention.head_count", static_cast<uint32_t>(c.num_heads)),
      kv_u32("qwen2.attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads)),
      kv_f32("qwen2.rope.freq_base", static_cast<float>(c.rope_theta)),
      kv_f32("qwen2.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps)),
      kv_str("tokenizer.ggml.model", m.tokenizer.model),
      kv_str("tokenizer.ggml.pre", m.tokenizer.pre),
      kv_strs("tokenizer.ggml.tokens", m.tokenizer.tokens),
      kv_strs("tokenizer.ggml.merges", m.tokenizer.merges),
      kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(m.tokenizer.eos_id)),
      kv_str("tokenizer.chat_template", m.tokenizer.chat_template),
  };
  std::vector<int32_t> types;
  for (TokenType t : m.tokenizer.token_types) types.push_back(static_cast<int32_t>(t));
  kvs.push_back(kv_i32s("tokenizer.ggml.token_type", types));
  for (auto& kv : extra) kvs.push_back(std::move(kv));
  std::vector<GgufTensorOut> tensors;
  for (const auto& [name, t] : m.tensors) {
    GgufTensorOut o{gguf_name(name), ggml_type_from_dtype(t.dtype), {}, {t.bytes.begin(), t.bytes.end()}};
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) o.ne.push_back(static_cast<uint64_t>(*it));
    tensors.push_back(std::move(o));
  }
  return gguf_bytes(kvs, tensors);
}

}  // namespace aprc::testing
