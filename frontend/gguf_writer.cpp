#include "aprc/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "aprc/error.h"
#include "aprc/gguf.h"
#include "file_writer.h"
#include "tensor_names.h"

namespace aprc {
namespace {

constexpr uint32_t kAlignment = 32;

// llama.cpp's llama_ftype numbers (general.file_type).
constexpr uint32_t kFileTypeF16 = 1, kFileTypeQ8_0 = 7, kFileTypeQ4_K_M = 15;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// GGUF's serialization: little-endian scalars, strings as u64 length + bytes, arrays as element
// type + u64 count + elements.
class Encoder {
 public:
  std::vector<uint8_t> bytes;

  template <class T>
  void put(T v) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof v);
    std::memcpy(bytes.data() + at, &v, sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void key(const std::string& k, GgufType t) {
    str(k);
    put<uint32_t>(static_cast<uint32_t>(t));
  }
  void kv_u32(const std::string& k, uint64_t v) {
    key(k, GgufType::U32);
    put<uint32_t>(static_cast<uint32_t>(v));
  }
  void kv_f32(const std::string& k, double v) {
    key(k, GgufType::F32);
    put<float>(static_cast<float>(v));
  }
  void kv_bool(const std::string& k, bool v) {
    key(k, GgufType::Bool);
    put<uint8_t>(v ? 1 : 0);
  }
  void kv_str(const std::string& k, const std::string& v) {
    key(k, GgufType::String);
    str(v);
  }
  void kv_strs(const std::string& k, const std::vector<std::string>& v) {
    key(k, GgufType::Array);
    put<uint32_t>(static_cast<uint32_t>(GgufType::String));
    put<uint64_t>(v.size());
    for (const std::string& s : v) str(s);
  }
  void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, GgufType::Array);
    put<uint32_t>(static_cast<uint32_t>(GgufType::I32));
    put<uint64_t>(v.size());
    for (int32_t x : v) put(x);
  }
};

bool gguf_holds(DType d) {
  for (uint32_t t = 0; t < 40; ++t)
    if (dtype_from_ggml(t) == d) return true;
  return false;
}

struct Planned {
  std::string gguf_name;
  const TensorRef* source;
  DType stored;
  uint64_t offset = 0;  // in the data section
  uint64_t size = 0;
};

// llama.cpp's order: the embedding, the blocks in order, then the final norm and the output.
std::tuple<int, int64_t, std::string> order_key(const std::string& canonical, const std::string& gguf_name) {
  if (canonical == names::embed_tokens()) return {0, 0, gguf_name};
  if (const auto layer = layer_index(canonical)) return {1, *layer, gguf_name};
  return {canonical == names::final_norm() ? 2 : 3, 0, gguf_name};
}

std::vector<uint8_t> metadata(const Model& m, const GgufWriteOptions& options, uint64_t* count) {
  const ModelConfig& c = m.config;
  Encoder e;
  uint64_t n = 0;
  auto counted = [&](auto&& f) {
    f();
    ++n;
  };
  const std::string a = c.architecture + ".";
  counted([&] { e.kv_str("general.architecture", c.architecture); });
  if (!options.name.empty()) counted([&] { e.kv_str("general.name", options.name); });
  counted([&] { e.kv_u32("general.alignment", kAlignment); });
  switch (options.quant) {
    case QuantScheme::Keep: break;
    case QuantScheme::F16: counted([&] { e.kv_u32("general.file_type", kFileTypeF16); }); break;
    case QuantScheme::Q8_0: counted([&] { e.kv_u32("general.file_type", kFileTypeQ8_0); }); break;
    case QuantScheme::Q4_K_M: counted([&] { e.kv_u32("general.file_type", kFileTypeQ4_K_M); }); break;
  }
  if (options.quant == QuantScheme::Q8_0 || options.quant == QuantScheme::Q4_K_M)
    counted([&] { e.kv_u32("general.quantization_version", 2); });
  counted([&] { e.kv_u32(a + "context_length", c.max_position_embeddings); });
  counted([&] { e.kv_u32(a + "embedding_length", c.hidden_size); });
  counted([&] { e.kv_u32(a + "block_count", c.num_layers); });
  counted([&] { e.kv_u32(a + "feed_forward_length", c.intermediate_size); });
  counted([&] { e.kv_u32(a + "attention.head_count", c.num_heads); });
  counted([&] { e.kv_u32(a + "attention.head_count_kv", c.num_kv_heads); });
  if (c.head_dim * c.num_heads != c.hidden_size) {
    counted([&] { e.kv_u32(a + "attention.key_length", c.head_dim); });
    counted([&] { e.kv_u32(a + "attention.value_length", c.head_dim); });
  }
  counted([&] { e.kv_f32(a + "rope.freq_base", c.rope_theta); });
  counted([&] { e.kv_f32(a + "attention.layer_norm_rms_epsilon", c.rms_norm_eps); });

  const TokenizerData& t = m.tokenizer;
  if (!t.empty()) {
    std::vector<std::string> tokens = t.tokens;
    std::vector<int32_t> types;
    for (TokenType tt : t.token_types) types.push_back(static_cast<int32_t>(tt));
    types.resize(tokens.size(), static_cast<int32_t>(TokenType::Normal));
    for (int64_t i = static_cast<int64_t>(tokens.size()); i < c.vocab_size; ++i) {
      tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.push_back(static_cast<int32_t>(TokenType::Unused));
    }
    counted([&] { e.kv_str("tokenizer.ggml.model", t.model); });
    counted([&] { e.kv_str("tokenizer.ggml.pre", t.pre); });
    counted([&] { e.kv_strs("tokenizer.ggml.tokens", tokens); });
    counted([&] { e.kv_i32s("tokenizer.ggml.token_type", types); });
    counted([&] { e.kv_strs("tokenizer.ggml.merges", t.merges); });
    // (a plain pair, not a structured binding: clang 14 cannot capture those in a lambda)
    for (const auto& key_id : {std::pair{"tokenizer.ggml.bos_token_id", t.bos_id},
                               std::pair{"tokenizer.ggml.eos_token_id", t.eos_id},
                               std::pair{"tokenizer.ggml.padding_token_id", t.pad_id}})
      if (key_id.second >= 0) counted([&] { e.kv_u32(key_id.first, static_cast<uint64_t>(key_id.second)); });
    counted([&] { e.kv_bool("tokenizer.ggml.add_bos_token", t.add_bos); });
  }
  if (!t.chat_template.empty()) counted([&] { e.kv_str("tokenizer.chat_template", t.chat_template); });
  *count = n;
  return std::move(e.bytes);
}

}  // namespace

void write_gguf(const Model& m, const std::string& path, const GgufWriteOptions& options) {
  std::vector<Planned> plan;
  for (const auto& [name, t] : m.tensors) {
    const auto gguf_name = gguf_tensor_name(name);
    if (!gguf_name) throw_bad_input(m.path + ": tensor '" + name + "' has no GGUF name (aprc writes qwen2 tensors only)");
    if (t.shape.empty() || t.shape.size() > 4)
      throw_bad_input(m.path + ": tensor '" + name + "': GGUF holds 1 to 4 dimensions, not " + std::to_string(t.shape.size()));
    Planned p{*gguf_name, &t, quant_type(options.quant, m.config, name, t.shape, t.dtype, options.overrides)};
    if (p.stored != t.dtype || !gguf_holds(p.stored)) {
      const auto [amax, finite] = scan_values(t.view());
      if (!finite) throw_bad_input(t.file_path() + ": tensor '" + t.source_name + "': holds NaN or infinity");
      if (!gguf_holds(p.stored)) p.stored = amax <= 65504.0f ? DType::F16 : DType::F32;
    }
    const auto size = tensor_bytes(p.stored, t.shape);
    if (!size) throw_bad_input(m.path + ": tensor '" + name + "': its rows are not whole " + dtype_name(p.stored) + " blocks");
    p.size = *size;
    plan.push_back(std::move(p));
  }
  std::sort(plan.begin(), plan.end(), [](const Planned& x, const Planned& y) {
    return order_key(x.source->name, x.gguf_name) < order_key(y.source->name, y.gguf_name);
  });

  uint64_t kv_n = 0;
  std::vector<uint8_t> kvs;
  try {
    kvs = metadata(m, options, &kv_n);
  } catch (const std::length_error&) {
    throw_bad_input(path + ": the metadata is too large");
  }
  Encoder infos;
  uint64_t data_size = 0;
  for (Planned& p : plan) {
    p.offset = data_size;
    data_size = align_up(data_size + p.size, kAlignment);
    infos.str(p.gguf_name);
    infos.put<uint32_t>(static_cast<uint32_t>(p.source->shape.size()));
    for (auto d = p.source->shape.rbegin(); d != p.source->shape.rend(); ++d) infos.put<uint64_t>(static_cast<uint64_t>(*d));
    infos.put<uint32_t>(ggml_type_from_dtype(p.stored));
    infos.put<uint64_t>(p.offset);
  }

  Encoder header;
  header.put<uint32_t>(0x46554747);  // "GGUF"
  header.put<uint32_t>(3);
  header.put<uint64_t>(plan.size());
  header.put<uint64_t>(kv_n);

  FileWriter w(path);
  w.write(header.bytes.data(), header.bytes.size());
  w.write(kvs.data(), kvs.size());
  w.write(infos.bytes.data(), infos.bytes.size());
  const uint64_t data_offset = align_up(w.written(), kAlignment);
  w.pad_to(data_offset);
  for (size_t k = 0; k < plan.size(); ++k) {
    const Planned& p = plan[k];
    if (options.progress) options.progress(k, plan.size(), p.source->name, p.source->dtype, p.stored);
    w.pad_to(data_offset + p.offset);
    write_tensor_as(w, p.source->view(), p.stored);
  }
  w.pad_to(data_offset + data_size);
  w.commit();
}

}  // namespace aprc
