// APR v2 -> the canonical Model. Everything in the header and the index is checked against the file
// before use: both CRCs, section order and bounds, the sorted index, 64-byte alignment, dtypes and
// sizes, overlaps. Refuses compressed, encrypted, sharded and column-major files, and names the
// older APR1 / APRN formats when it sees them.
#include <algorithm>
#include <cstring>

#include "apr_format.h"
#include "aprc/apr.h"
#include "aprc/config_json.h"
#include "aprc/crc32.h"
#include "aprc/error.h"
#include "byte_reader.h"
#include "page_release.h"
#include "readers.h"
#include "tensor_names.h"

namespace aprc {
namespace {

using json = nlohmann::json;

struct AprEntry {
  std::string name;
  uint8_t code = 0;
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
  uint64_t offset = 0, size = 0;
  std::span<const uint8_t> data;
};

void check_magic(ByteReader& r) {
  if (r.size() < 4) r.fail("truncated: not an APR file (" + std::to_string(r.size()) + " bytes)");
  const auto m = r.bytes().first(4);
  auto is = [&](const char* s) { return std::memcmp(m.data(), s, 4) == 0; };
  if (is("APRN"))
    r.fail("is an APRN file (aprender's APR v1 format for classical models), not an APR v2 language model");
  if (is("APR1")) r.fail("is an APR1 file (aprender's older APR v1 format), not APR v2");
  if (!is(std::string("APR\0", 4).c_str()) && !is("APR2"))
    r.fail("not an APR v2 file (magic is not APR\\0 or APR2)");
}

void check_flags(const ByteReader& r, uint16_t flags) {
  if (flags & (apr::kLz4 | apr::kZstd))
    r.fail(std::string("is compressed (") + (flags & apr::kLz4 ? "LZ4" : "ZSTD") +
           "); aprc reads uncompressed APR v2 only: decompress it with the apr tool first");
  if (flags & apr::kEncrypted) r.fail("is encrypted; aprc reads unencrypted APR v2 files only");
  if (flags & apr::kSharded) r.fail("is one shard of a sharded APR model; aprc reads single-file APR v2 only");
  if (flags & apr::kColumnMajor) r.fail("stores column-major tensors; aprc reads row-major APR v2 only");
}

// A string of the metadata, flat ("tokenizer.merges") or nested ({"tokenizer": {"merges": ...}}).
const json* meta_find(const json& meta, const std::string& dotted) {
  if (auto it = meta.find(dotted); it != meta.end() && !it->is_null()) return &*it;
  const size_t dot = dotted.find('.');
  if (dot == std::string::npos) return nullptr;
  auto outer = meta.find(dotted.substr(0, dot));
  if (outer == meta.end() || !outer->is_object()) return nullptr;
  auto inner = outer->find(dotted.substr(dot + 1));
  return inner == outer->end() || inner->is_null() ? nullptr : &*inner;
}

std::vector<std::string> string_array(const json& meta, const std::string& key, const std::string& path) {
  const json* v = meta_find(meta, key);
  if (!v) return {};
  if (!v->is_array()) throw_bad_input(path + ": key '" + key + "': expected an array of strings");
  std::vector<std::string> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (e.is_string()) {
      out.push_back(e.get<std::string>());
    } else if (key == "tokenizer.merges" && e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      out.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
    } else {
      throw_bad_input(path + ": key '" + key + "': element " + std::to_string(i) + " is not a string");
    }
  }
  return out;
}

int64_t meta_id(const json& meta, const std::string& key, const std::string& path) {
  const json* v = meta_find(meta, key);
  if (!v) return -1;
  if (!v->is_number_integer() || v->get<int64_t>() < -1)
    throw_bad_input(path + ": key '" + key + "': expected a token id");
  return v->get<int64_t>();
}

// How many vocabulary and merge strings a metadata parse dropped (LoadOptions::vocabulary false).
struct Dropped {
  int64_t tokens = 0, merges = 0;
};

// A parser callback that drops the strings of tokenizer.vocabulary and tokenizer.merges (flat keys
// of the top-level object) while counting them, so that inspecting a file does not hold them.
json::parser_callback_t drop_vocabulary(Dropped& dropped) {
  return [&dropped, current = static_cast<int64_t*>(nullptr)](int depth, json::parse_event_t event,
                                                              json& parsed) mutable {
    if (depth == 1 && event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      current = key == "tokenizer.vocabulary" ? &dropped.tokens : key == "tokenizer.merges" ? &dropped.merges : nullptr;
      return true;
    }
    // Elements of those arrays: strings (values at depth 2) or [a, b] pairs (arrays ending at depth 2).
    if (current && depth == 2 && (event == json::parse_event_t::value || event == json::parse_event_t::array_end)) {
      ++*current;
      return false;
    }
    return true;
  };
}

TokenizerData tokenizer_from_meta(const json& meta, const std::string& path, const Dropped* dropped) {
  TokenizerData t;
  t.tokens = string_array(meta, "tokenizer.vocabulary", path);
  const size_t n_tokens = dropped ? static_cast<size_t>(dropped->tokens) : t.tokens.size();
  if (n_tokens == 0) return t;
  t.merges = string_array(meta, "tokenizer.merges", path);
  if (const json* types = meta_find(meta, "tokenizer.token_type")) {
    if (!types->is_array() || types->size() != n_tokens)
      throw_bad_input(path + ": key 'tokenizer.token_type': expected " + std::to_string(n_tokens) +
                      " token types, one per token");
    for (size_t i = 0; i < types->size(); ++i) {
      const json& e = (*types)[i];
      if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() > static_cast<int64_t>(TokenType::Byte))
        throw_bad_input(path + ": key 'tokenizer.token_type': token " + std::to_string(i) + " has an unknown type");
      t.token_types.push_back(static_cast<TokenType>(e.get<int64_t>()));
    }
  } else {
    t.token_types.assign(n_tokens, TokenType::Normal);
  }
  t.bos_id = meta_id(meta, "tokenizer.bos_token_id", path);
  t.eos_id = meta_id(meta, "tokenizer.eos_token_id", path);
  t.pad_id = meta_id(meta, "tokenizer.padding_token_id", path);
  // Older files name the special tokens by text only.
  if (const json* special = meta_find(meta, "special_tokens"); special && special->is_object()) {
    auto by_text = [&](const char* key, int64_t& id) {
      auto it = special->find(key);
      if (id >= 0 || it == special->end() || !it->is_string()) return;
      const std::string text = it->get<std::string>();
      for (int64_t i = static_cast<int64_t>(t.tokens.size()) - 1; i >= 0; --i)
        if (t.tokens[i] == text) {
          id = i;
          return;
        }
    };
    by_text("bos_token", t.bos_id);
    by_text("eos_token", t.eos_id);
    by_text("pad_token", t.pad_id);
  }
  if (const json* v = meta_find(meta, "tokenizer.add_bos_token")) {
    if (!v->is_boolean()) throw_bad_input(path + ": key 'tokenizer.add_bos_token': expected true or false");
    t.add_bos = v->get<bool>();
  }
  auto text = [&](const char* key, std::string& out) {
    if (const json* v = meta_find(meta, key)) {
      if (!v->is_string()) throw_bad_input(path + ": key '" + key + "': expected a string");
      out = v->get<std::string>();
    }
  };
  text("tokenizer.model", t.model);
  text("tokenizer.pre_type", t.pre);
  text("tokenizer.pre_regex", t.pre_regex);
  return t;
}

}  // namespace

std::optional<DType> dtype_from_apr(uint8_t code) {
  switch (code) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 3: return DType::F64;
    case 4: return DType::I32;
    case 5: return DType::I64;
    case 6: return DType::I8;
    case 7: return DType::U8;
    case 12: return DType::Q4_K;
    case 14: return DType::Q6_K;
    case 30: return DType::BF16;
    case 8: case 128: return DType::AprQ4;
    case 9: case 129: return DType::AprQ8;
    default: return std::nullopt;
  }
}

std::optional<uint8_t> apr_code(DType dtype) {
  for (int code : {0, 1, 3, 4, 5, 6, 7, 12, 14, 30, 128, 129})
    if (dtype_from_apr(static_cast<uint8_t>(code)) == dtype) return static_cast<uint8_t>(code);
  return std::nullopt;
}

Model apr_from_bytes(std::span<const uint8_t> bytes, std::shared_ptr<const MappedFile> file, const std::string& path,
                     const LoadOptions& options) {
  ByteReader r(bytes, path);
  check_magic(r);
  if (r.size() < apr::kHeaderSize + 4)
    r.fail("truncated: " + std::to_string(r.size()) + " bytes is shorter than the APR v2 header and footer");

  // Header.
  r.seek(4, "header");
  const uint8_t major = r.read<uint8_t>("the version");
  const uint8_t minor = r.read<uint8_t>("the version");
  if (major != apr::kVersionMajor)
    r.fail("unsupported APR version " + std::to_string(major) + "." + std::to_string(minor) + " (aprc reads 2.x)");
  const uint16_t flags = r.read<uint16_t>("the flags");
  const uint32_t count = r.read<uint32_t>("the tensor count");
  const uint64_t meta_offset = r.read<uint64_t>("the metadata offset");
  const uint32_t meta_size = r.read<uint32_t>("the metadata size");
  const uint64_t index_offset = r.read<uint64_t>("the tensor index offset");
  const uint64_t data_offset = r.read<uint64_t>("the data offset");
  const uint32_t header_crc = r.read<uint32_t>("the header CRC");
  const uint32_t want_header_crc = crc32_update(crc32(bytes.data(), apr::kHeaderCrcAt), bytes.data() + 44, 20);
  if (header_crc != want_header_crc) r.fail("header CRC mismatch: the file is corrupt");
  check_flags(r, flags);

  // Footer: CRC32 of everything before it. Reading a mapped file through releases each chunk's
  // pages behind it, so checking a multi-gigabyte file does not make it resident.
  const uint64_t body = r.size() - 4;
  uint32_t footer_crc;
  std::memcpy(&footer_crc, bytes.data() + body, 4);
  const MappedFile* mapped = file && file->data() == bytes.data() ? file.get() : nullptr;
  uint32_t crc = 0;
  constexpr uint64_t kChunk = 16u << 20;
  for (uint64_t at = 0; at < body; at += kChunk) {
    const uint64_t n = std::min(kChunk, body - at);
    crc = crc32_update(crc, bytes.data() + at, n);
    if (mapped) release_pages(*mapped, bytes.data() + at, bytes.data() + at + n);
  }
  if (crc != footer_crc) r.fail("footer CRC mismatch: the file is corrupt or truncated");

  // Sections, in order: header, metadata, index, data, footer.
  if (meta_offset != apr::kHeaderSize) r.fail("metadata offset " + std::to_string(meta_offset) + " (expected 64)");
  if (meta_offset + meta_size > body)
    r.fail("metadata [64, " + std::to_string(meta_offset + meta_size) + ") runs past the end of the file");
  if (index_offset < meta_offset + meta_size || index_offset > body)
    r.fail("tensor index offset " + std::to_string(index_offset) + " is outside [" +
           std::to_string(meta_offset + meta_size) + ", " + std::to_string(body) + "]");
  if (data_offset < index_offset || data_offset > body || data_offset % apr::kAlign != 0)
    r.fail("data offset " + std::to_string(data_offset) + " is not a 64-byte boundary in [" +
           std::to_string(index_offset) + ", " + std::to_string(body) + "]");

  const auto meta_bytes = bytes.subspan(meta_offset, meta_size);
  Dropped dropped;
  const json meta =
      parse_json_text(std::string_view(reinterpret_cast<const char*>(meta_bytes.data()), meta_bytes.size()), path,
                      options.vocabulary ? nullptr : drop_vocabulary(dropped));
  if (!meta.is_object()) r.fail("metadata is not a JSON object");

  // Index entries, sorted by name in byte order.
  ByteReader ix(bytes.subspan(0, data_offset), path);
  ix.seek(index_offset, "the tensor index");
  if (count > (data_offset - index_offset) / 12)
    r.fail("tensor count " + std::to_string(count) + " is more than the index section can hold");
  std::vector<AprEntry> entries;
  entries.reserve(count);
  for (uint32_t k = 0; k < count; ++k) {
    AprEntry e;
    const std::string what = "index entry " + std::to_string(k);
    const uint16_t name_len = ix.read<uint16_t>(what + " (name length)");
    if (name_len == 0 || name_len > apr::kMaxNameLength)
      r.fail(what + ": name length " + std::to_string(name_len) + " (1 to 256)");
    e.name = std::string(ix.read_string(name_len, what + " (name)"));
    const std::string t = "tensor '" + e.name + "'";
    if (!entries.empty() && !(entries.back().name < e.name))
      r.fail(t + ": the tensor index is not sorted by name (it follows '" + entries.back().name + "')");
    e.code = ix.read<uint8_t>(t + " (dtype)");
    const auto dtype = dtype_from_apr(e.code);
    if (!dtype) r.fail(t + ": unknown dtype " + std::to_string(e.code));
    e.dtype = *dtype;
    const uint8_t ndim = ix.read<uint8_t>(t + " (dimension count)");
    if (ndim == 0 || ndim > apr::kMaxDims) r.fail(t + ": " + std::to_string(ndim) + " dimensions (1 to 8)");
    for (uint8_t d = 0; d < ndim; ++d) {
      const uint64_t dim = ix.read<uint64_t>(t + " (dimension " + std::to_string(d) + ")");
      if (dim == 0 || dim > (uint64_t{1} << 40)) r.fail(t + ": bad dimension " + std::to_string(d) + " = " + std::to_string(dim));
      e.dims.push_back(static_cast<int64_t>(dim));
    }
    e.offset = ix.read<uint64_t>(t + " (data offset)");
    e.size = ix.read<uint64_t>(t + " (size)");
    const auto expected = tensor_bytes(e.dtype, e.dims);
    if (!expected)
      r.fail(t + ": shape " + shape_string(e.dims) + " is not a whole number of " + dtype_name(e.dtype) + " blocks per row");
    if (*expected != e.size)
      r.fail(t + ": size " + std::to_string(e.size) + " bytes, but a " + dtype_name(e.dtype) + " tensor of shape " +
             shape_string(e.dims) + " is " + std::to_string(*expected));
    if (e.offset % apr::kAlign != 0)
      r.fail(t + ": data offset " + std::to_string(e.offset) + " is not a multiple of 64");
    uint64_t begin, end;
    if (add_overflows(data_offset, e.offset, &begin) || add_overflows(begin, e.size, &end) || end > body)
      r.fail(t + ": data [" + std::to_string(e.offset) + ", +" + std::to_string(e.size) +
             ") runs past the end of the data section (" + std::to_string(body - data_offset) + " bytes)");
    e.data = bytes.subspan(begin, e.size);
    entries.push_back(std::move(e));
  }
  std::vector<const AprEntry*> by_offset;
  for (const AprEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k)
    if (by_offset[k]->offset < by_offset[k - 1]->offset + by_offset[k - 1]->size)
      r.fail("tensor '" + by_offset[k]->name + "': data at offset " + std::to_string(by_offset[k]->offset) +
             " overlaps tensor '" + by_offset[k - 1]->name + "'");

  Model m;
  m.format = "apr";
  m.path = path;
  ConfigFromJson parsed = config_from_json(meta, path);
  m.config = parsed.config;
  m.tokenizer = tokenizer_from_meta(meta, path, options.vocabulary ? nullptr : &dropped);
  if (const json* v = meta_find(meta, "chat_template")) {
    if (!v->is_string()) r.fail("key 'chat_template': expected a string");
    m.tokenizer.chat_template = v->get<std::string>();
  }
  for (const AprEntry& e : entries) {
    TensorRef t;
    t.name = canonical_tensor_name(e.name);
    t.source_name = e.name;
    t.dtype = e.dtype;
    t.shape = e.dims;
    t.bytes = e.data;
    t.file = file;
    if (!m.tensors.emplace(t.name, std::move(t)).second)
      r.fail("tensor '" + e.name + "' appears twice (under two spellings)");
  }

  // The vocabulary is the embedding's row count when the metadata leaves it out.
  const TensorRef* embed = m.find(names::embed_tokens());
  if (m.config.vocab_size == 0 && embed && !embed->shape.empty()) m.config.vocab_size = embed->shape[0];
  // Tied embeddings: APR writers store lm_head as a copy of the embedding. Read it as tied (and drop
  // the copy) when the metadata says so, or when the two are the same bytes.
  const TensorRef* head = m.find(names::lm_head());
  bool tied = parsed.tied.value_or(false);
  if (!parsed.tied) {
    tied = !head || (embed && head->dtype == embed->dtype && head->shape == embed->shape &&
                     std::equal(head->bytes.begin(), head->bytes.end(), embed->bytes.begin(), embed->bytes.end()));
  }
  m.config.tied_embeddings = tied;
  if (tied && head) m.tensors.erase(names::lm_head());
  settle_tokenizer(m, options);
  if (!options.vocabulary && !m.tokenizer.token_types.empty()) {
    m.tokenizer_tokens = dropped.tokens;
    m.tokenizer_merges = dropped.merges;
  }
  check_model(m);
  return m;
}

Model load_apr(const std::string& path, const LoadOptions& options) {
  auto file = MappedFile::open(path);
  return apr_from_bytes(file->bytes(), file, path, options);
}

}  // namespace aprc
