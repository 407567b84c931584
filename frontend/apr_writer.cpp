// The canonical Model -> APR v2 (shared/docs/formats.md), streamed tensor by tensor so that memory
// stays at one chunk of rows whatever the model's size.
#include <cstring>

#include "apr_format.h"
#include "aprc/apr.h"
#include "aprc/config_json.h"
#include "aprc/crc32.h"
#include "aprc/error.h"
#include "byte_reader.h"
#include "file_writer.h"

namespace aprc {
namespace {

using json = nlohmann::json;

struct Planned {
  std::string name;
  const TensorRef* source;
  DType stored;
  uint64_t offset = 0;  // in the data section
  uint64_t size = 0;
};

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

json metadata(const Model& m) {
  const ModelConfig& c = m.config;
  // inspect's config object, in APR's spellings: rope_type as a number (2 = NeoX), the tie flag
  // under the Hugging Face name other APR readers know.
  json j = config_to_json(c);
  j["rope_type"] = c.rope_type == RopeType::Neox ? 2 : 0;
  j.erase("tied_embeddings");
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["model_type"] = c.architecture;
  j["original_format"] = m.format;
  const TokenizerData& t = m.tokenizer;
  if (!t.chat_template.empty()) j["chat_template"] = t.chat_template;
  if (t.empty()) return j;
  json types = json::array();
  for (TokenType tt : t.token_types) types.push_back(static_cast<int>(tt));
  j["tokenizer.vocabulary"] = t.tokens;
  j["tokenizer.merges"] = t.merges;
  j["tokenizer.token_type"] = std::move(types);
  j["tokenizer.model"] = t.model;
  j["tokenizer.pre_type"] = t.pre;
  if (!t.pre_regex.empty()) j["tokenizer.pre_regex"] = t.pre_regex;
  j["tokenizer.add_bos_token"] = t.add_bos;
  json special = json::object();
  for (auto [key, text_key, id] : {std::tuple{"tokenizer.bos_token_id", "bos_token", t.bos_id},
                                   std::tuple{"tokenizer.eos_token_id", "eos_token", t.eos_id},
                                   std::tuple{"tokenizer.padding_token_id", "pad_token", t.pad_id}}) {
    if (id < 0) continue;
    j[key] = id;
    if (id < static_cast<int64_t>(t.tokens.size())) special[text_key] = t.tokens[id];
  }
  if (!special.empty()) j["special_tokens"] = std::move(special);
  return j;
}

}  // namespace

void write_apr(const Model& m, const std::string& path, const AprWriteOptions& options) {
  if (options.convert_to != DType::F16 && options.convert_to != DType::F32)
    throw_internal("write_apr: convert_to must be f16 or f32");
  // Sorted by name in byte order (std::string compares as unsigned bytes), lm_head added when tied.
  std::map<std::string, const TensorRef*> sorted;
  for (const auto& [name, t] : m.tensors) sorted[name] = &t;
  if (m.config.tied_embeddings && options.tied_copy && !sorted.count(names::lm_head()))
    if (const TensorRef* e = m.find(names::embed_tokens())) sorted[names::lm_head()] = e;

  std::vector<Planned> plan;
  uint64_t data_size = 0;
  for (const auto& [name, t] : sorted) {
    if (name.empty() || name.size() > apr::kMaxNameLength)
      throw_bad_input(path + ": tensor '" + name + "': APR names are 1 to 256 bytes");
    if (t->shape.empty() || t->shape.size() > apr::kMaxDims)
      throw_bad_input(path + ": tensor '" + name + "': APR holds 1 to 8 dimensions, not " +
                      std::to_string(t->shape.size()));
    Planned p{name, t, quant_type(options.quant, m.config, name, t->shape, t->dtype, options.overrides)};
    if (p.stored != t->dtype || !apr_code(p.stored)) {
      const auto [amax, finite] = scan_values(t->view());
      if (!finite) throw_bad_input(t->file_path() + ": tensor '" + t->source_name + "': holds NaN or infinity");
      if (!apr_code(p.stored)) p.stored = options.convert_to == DType::F16 && amax <= 65504.0f ? DType::F16 : DType::F32;
    }
    p.size = *tensor_bytes(p.stored, t->shape);
    p.offset = data_size;
    data_size = align_up(data_size + p.size, apr::kAlign);
    plan.push_back(std::move(p));
  }

  std::string meta_text;
  try {
    meta_text = metadata(m).dump();
  } catch (const json::type_error& e) {
    throw_bad_input(m.path + ": the tokenizer or chat template is not valid UTF-8, which APR's JSON metadata needs");
  }
  std::vector<uint8_t> index;
  bool quantized = false;
  for (const Planned& p : plan) {
    put<uint16_t>(index, static_cast<uint16_t>(p.name.size()));
    index.insert(index.end(), p.name.begin(), p.name.end());
    put<uint8_t>(index, *apr_code(p.stored));
    put<uint8_t>(index, static_cast<uint8_t>(p.source->shape.size()));
    for (int64_t d : p.source->shape) put<uint64_t>(index, static_cast<uint64_t>(d));
    put<uint64_t>(index, p.offset);
    put<uint64_t>(index, p.size);
    quantized |= p.stored == DType::Q4_K || p.stored == DType::Q6_K || p.stored == DType::AprQ4 ||
                 p.stored == DType::AprQ8;
  }
  const uint64_t meta_offset = apr::kHeaderSize;
  const uint64_t index_offset = align_up(meta_offset + meta_text.size(), apr::kAlign);
  const uint64_t data_offset = align_up(index_offset + index.size(), apr::kAlign);
  if (meta_text.size() > UINT32_MAX) throw_bad_input(path + ": metadata exceeds 4 GiB");

  uint8_t header[apr::kHeaderSize] = {};
  std::memcpy(header, "APR\0", 4);
  header[4] = apr::kVersionMajor;
  header[5] = 0;
  const uint16_t flags = apr::kRowMajor | (m.tokenizer.empty() ? 0 : apr::kHasVocab) | (quantized ? apr::kQuantized : 0);
  const uint32_t count = static_cast<uint32_t>(plan.size()), meta_size = static_cast<uint32_t>(meta_text.size());
  std::memcpy(header + apr::kFlagsAt, &flags, 2);
  std::memcpy(header + apr::kTensorCountAt, &count, 4);
  std::memcpy(header + apr::kMetadataOffsetAt, &meta_offset, 8);
  std::memcpy(header + apr::kMetadataSizeAt, &meta_size, 4);
  std::memcpy(header + apr::kIndexOffsetAt, &index_offset, 8);
  std::memcpy(header + apr::kDataOffsetAt, &data_offset, 8);
  const uint32_t header_crc = crc32_update(crc32(header, apr::kHeaderCrcAt), header + 44, 20);
  std::memcpy(header + apr::kHeaderCrcAt, &header_crc, 4);

  FileWriter w(path);
  w.write(header, sizeof header);
  w.write(meta_text.data(), meta_text.size());
  w.pad_to(index_offset);
  w.write(index.data(), index.size());
  w.pad_to(data_offset);
  for (size_t k = 0; k < plan.size(); ++k) {
    const Planned& p = plan[k];
    if (options.progress) options.progress(k, plan.size(), p.name, p.source->dtype, p.stored);
    w.pad_to(data_offset + p.offset);
    write_tensor_as(w, p.source->view(), p.stored);
  }
  w.pad_to(data_offset + data_size);
  const uint32_t footer = w.crc();
  w.write(&footer, 4);
  w.commit();
}

}  // namespace aprc
