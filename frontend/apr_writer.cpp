// The canonical Model -> APR v2 (shared/docs/formats.md), streamed tensor by tensor so that memory
// stays at one chunk of rows whatever the model's size.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "apr_format.h"
#include "aprc/apr.h"
#include "aprc/config_json.h"
#include "aprc/crc32.h"
#include "aprc/error.h"
#include "bad_input.h"
#include "byte_reader.h"

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

// A file written through a buffer, with the CRC of everything written so far.
class CrcWriter {
 public:
  explicit CrcWriter(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) bad_input(path + ": cannot create: " + std::strerror(errno));
  }
  ~CrcWriter() {
    if (f_) std::fclose(f_);
  }
  void write(const void* data, size_t n) {
    if (n == 0) return;
    crc_ = crc32_update(crc_, data, n);
    if (std::fwrite(data, 1, n, f_) != n) bad_input(path_ + ": write failed: " + std::strerror(errno));
    written_ += n;
  }
  void pad_to(uint64_t offset) {
    static const uint8_t zeros[64] = {};
    while (written_ < offset) write(zeros, std::min<uint64_t>(64, offset - written_));
  }
  void close() {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      bad_input(path_ + ": write failed: " + std::strerror(errno));
    }
    f_ = nullptr;
  }
  uint32_t crc() const { return crc_; }
  uint64_t written() const { return written_; }

 private:
  std::string path_;
  std::FILE* f_;
  uint32_t crc_ = 0;
  uint64_t written_ = 0;
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

// Largest |value| of a tensor, and whether all are finite, reading a chunk of rows at a time.
std::pair<float, bool> scan(const TensorView& v) {
  const int64_t cols = v.cols(), rows = v.rows();
  const int64_t chunk = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(cols, 1));
  std::vector<float> buf(static_cast<size_t>(std::min(chunk, rows) * cols));
  float m = 0;
  for (int64_t r = 0; r < rows; r += chunk) {
    const int64_t end = std::min(rows, r + chunk);
    dequantize_rows(v, r, end, buf.data());
    for (int64_t i = 0; i < (end - r) * cols; ++i) {
      if (!std::isfinite(buf[i])) return {m, false};
      m = std::max(m, std::fabs(buf[i]));
    }
  }
  return {m, true};
}

void write_converted(CrcWriter& w, const TensorView& v, DType stored) {
  const int64_t cols = v.cols(), rows = v.rows();
  const int64_t chunk = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(cols, 1));
  const uint64_t rb = *row_bytes(stored, cols);
  std::vector<float> buf(static_cast<size_t>(std::min(chunk, rows) * cols));
  std::vector<uint8_t> out(static_cast<size_t>(std::min(chunk, rows) * rb));
  for (int64_t r = 0; r < rows; r += chunk) {
    const int64_t end = std::min(rows, r + chunk);
    dequantize_rows(v, r, end, buf.data());
    for (int64_t k = 0; k < end - r; ++k) quantize_row(stored, buf.data() + k * cols, cols, out.data() + k * rb);
    w.write(out.data(), static_cast<size_t>((end - r) * rb));
  }
}

}  // namespace

void write_apr(const Model& m, const std::string& path, const AprWriteOptions& options) {
  if (options.convert_to != DType::F16 && options.convert_to != DType::F32)
    throw_internal("write_apr: convert_to must be f16 or f32");
  // Sorted by name in byte order (std::string compares as unsigned bytes), lm_head added when tied.
  std::map<std::string, const TensorRef*> sorted;
  for (const auto& [name, t] : m.tensors) sorted[name] = &t;
  if (m.config.tied_embeddings && !sorted.count(names::lm_head()))
    if (const TensorRef* e = m.find(names::embed_tokens())) sorted[names::lm_head()] = e;

  std::vector<Planned> plan;
  uint64_t data_size = 0;
  for (const auto& [name, t] : sorted) {
    if (name.empty() || name.size() > apr::kMaxNameLength)
      bad_input(path + ": tensor '" + name + "': APR names are 1 to 256 bytes");
    if (t->shape.empty() || t->shape.size() > apr::kMaxDims)
      bad_input(path + ": tensor '" + name + "': APR holds 1 to 8 dimensions, not " +
                      std::to_string(t->shape.size()));
    Planned p{name, t, t->dtype};
    if (!apr_code(t->dtype)) {
      const auto [amax, finite] = scan(t->view());
      if (!finite) bad_input(t->file_path() + ": tensor '" + t->source_name + "': holds NaN or infinity");
      p.stored = options.convert_to == DType::F16 && amax <= 65504.0f ? DType::F16 : DType::F32;
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
    bad_input(m.path + ": the tokenizer or chat template is not valid UTF-8, which APR's JSON metadata needs");
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
  if (meta_text.size() > UINT32_MAX) bad_input(path + ": metadata exceeds 4 GiB");

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

  const std::string tmp = path + ".tmp";
  try {
    CrcWriter w(tmp);
    w.write(header, sizeof header);
    w.write(meta_text.data(), meta_text.size());
    w.pad_to(index_offset);
    w.write(index.data(), index.size());
    w.pad_to(data_offset);
    for (size_t k = 0; k < plan.size(); ++k) {
      const Planned& p = plan[k];
      if (options.progress) options.progress(k, plan.size(), p.name, p.source->dtype, p.stored);
      w.pad_to(data_offset + p.offset);
      if (p.stored == p.source->dtype) {
        w.write(p.source->bytes.data(), p.source->bytes.size());
      } else {
        write_converted(w, p.source->view(), p.stored);
      }
    }
    w.pad_to(data_offset + data_size);
    const uint32_t footer = w.crc();
    w.write(&footer, 4);
    w.close();
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) bad_input(path + ": cannot move " + tmp + " into place: " + ec.message());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace aprc
