// GGUF -> the canonical Model: config from the {arch}.* keys, tensors renamed to Hugging Face names
// with their shapes reversed to [out, in], the tokenizer from tokenizer.ggml.*, and split sets.
#include <charconv>
#include <cstdio>
#include <regex>

#include "aprc/error.h"
#include "byte_reader.h"
#include "readers.h"
#include "tensor_names.h"

namespace aprc {
namespace {

int64_t positive(const GgufFile& g, const std::string& key) {
  const uint64_t v = g.get_uint(key);
  if (v == 0 || v > (uint64_t{1} << 40)) g.fail_key(key, "expected a positive count, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

// Head counts may be per-layer arrays in some GGUF files; aprc needs one value for all layers.
int64_t head_count(const GgufFile& g, const std::string& key) {
  const GgufValue* v = g.find(key);
  if (v && v->type == GgufType::Array) {
    const auto counts = g.get_ints(key);
    if (counts.empty()) g.fail_key(key, "is an empty array");
    for (int64_t c : counts)
      if (c != counts[0]) g.fail_key(key, "per-layer head counts that differ are not supported");
    if (counts[0] <= 0) g.fail_key(key, "expected a positive count, got " + std::to_string(counts[0]));
    return counts[0];
  }
  return positive(g, key);
}

ModelConfig config_from_gguf(const GgufFile& g, const std::vector<const GgufTensorInfo*>& tensors) {
  ModelConfig c;
  c.architecture = g.get_string("general.architecture");
  const std::string a = c.architecture + ".";
  c.hidden_size = positive(g, a + "embedding_length");
  c.num_layers = positive(g, a + "block_count");
  c.num_heads = head_count(g, a + "attention.head_count");
  c.num_kv_heads = g.has(a + "attention.head_count_kv") ? head_count(g, a + "attention.head_count_kv") : c.num_heads;
  c.intermediate_size = positive(g, a + "feed_forward_length");
  if (g.has(a + "attention.key_length")) {
    c.head_dim = positive(g, a + "attention.key_length");
    if (g.has(a + "attention.value_length") && positive(g, a + "attention.value_length") != c.head_dim)
      g.fail_key(a + "attention.value_length", "differs from attention.key_length; aprc needs them equal");
  } else {
    c.head_dim = c.hidden_size / c.num_heads;
  }
  // The vocabulary is the embedding's row count; vocab_size and the token list must agree with it.
  c.vocab_size = 0;
  if (g.has(a + "vocab_size")) {
    c.vocab_size = positive(g, a + "vocab_size");
  } else {
    for (const GgufTensorInfo* t : tensors)
      if (t->name == "token_embd.weight" && t->ne.size() == 2) c.vocab_size = static_cast<int64_t>(t->ne[1]);
    if (c.vocab_size == 0 && g.has("tokenizer.ggml.tokens")) c.vocab_size = g.find("tokenizer.ggml.tokens")->count;
  }
  c.rope_theta = g.has(a + "rope.freq_base") ? g.get_float(a + "rope.freq_base") : 10000.0;
  if (g.has(a + "rope.scaling.type")) {
    const std::string t = g.get_string(a + "rope.scaling.type");
    if (t != "none") g.fail_key(a + "rope.scaling.type", "rope scaling '" + t + "' is not supported");
  }
  c.rms_norm_eps = g.get_float(a + "attention.layer_norm_rms_epsilon");
  if (g.has(a + "context_length")) c.max_position_embeddings = positive(g, a + "context_length");
  // llama.cpp uses NeoX (rotate-half) RoPE for qwen2, as Hugging Face does.
  c.rope_type = RopeType::Neox;
  bool has_output = false;
  for (const GgufTensorInfo* t : tensors) has_output |= t->name == "output.weight";
  c.tied_embeddings = !has_output;
  return c;
}

TokenizerData tokenizer_from_gguf(const GgufFile& g, bool vocabulary) {
  TokenizerData t;
  if (!g.has("tokenizer.ggml.tokens")) return t;
  if (g.has("tokenizer.ggml.model")) t.model = g.get_string("tokenizer.ggml.model");
  if (g.has("tokenizer.ggml.pre")) t.pre = g.get_string("tokenizer.ggml.pre");
  if (vocabulary) t.tokens = g.get_strings("tokenizer.ggml.tokens");
  const size_t n_tokens = g.find("tokenizer.ggml.tokens")->count;
  if (g.has("tokenizer.ggml.token_type")) {
    const auto types = g.get_ints("tokenizer.ggml.token_type");
    if (types.size() != n_tokens)
      g.fail_key("tokenizer.ggml.token_type", std::to_string(types.size()) + " types for " +
                                                  std::to_string(n_tokens) + " tokens");
    t.token_types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::Byte))
        g.fail_key("tokenizer.ggml.token_type", "token " + std::to_string(i) + " has unknown type " +
                                                    std::to_string(types[i]));
      t.token_types.push_back(static_cast<TokenType>(types[i]));
    }
  } else {
    t.token_types.assign(n_tokens, TokenType::Normal);
  }
  if (vocabulary && g.has("tokenizer.ggml.merges")) t.merges = g.get_strings("tokenizer.ggml.merges");
  auto id = [&](const char* key) -> int64_t {
    return g.has(key) ? static_cast<int64_t>(std::min<uint64_t>(g.get_uint(key), INT64_MAX)) : -1;
  };
  t.bos_id = id("tokenizer.ggml.bos_token_id");
  t.eos_id = id("tokenizer.ggml.eos_token_id");
  t.pad_id = id("tokenizer.ggml.padding_token_id");
  if (g.has("tokenizer.ggml.add_bos_token")) t.add_bos = g.get_bool("tokenizer.ggml.add_bos_token");
  if (g.has("tokenizer.chat_template")) t.chat_template = g.get_string("tokenizer.chat_template");
  return t;
}

struct SplitName {
  std::string prefix;  // up to "-0000i-of-0000N.gguf"
  int index = 0;       // 1-based, as in the name
  int count = 0;
};

// NAME-00001-of-00003.gguf (llama.cpp's gguf-split naming, five digits).
std::optional<SplitName> parse_split_name(const std::string& path) {
  static const std::regex kSplit(R"(^(.*)-([0-9]{5})-of-([0-9]{5})\.gguf$)");
  std::smatch m;
  if (!std::regex_match(path, m, kSplit)) return std::nullopt;
  SplitName s{m[1].str(), std::stoi(m[2].str()), std::stoi(m[3].str())};
  return s;
}

std::string split_path(const SplitName& s, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.gguf", index, s.count);
  return s.prefix + buf;
}

}  // namespace

Model gguf_to_model(const std::vector<GgufFile>& parts, const std::vector<std::shared_ptr<const MappedFile>>& files,
                    const std::string& path, const LoadOptions& options) {
  if (parts.empty()) throw_internal("gguf_to_model: no files");
  const GgufFile& meta = parts[0];
  std::vector<const GgufTensorInfo*> all;
  std::vector<size_t> part_of;
  for (size_t p = 0; p < parts.size(); ++p)
    for (const GgufTensorInfo& t : parts[p].tensors) {
      all.push_back(&t);
      part_of.push_back(p);
    }

  Model m;
  m.format = "gguf";
  m.path = path;
  m.config = config_from_gguf(meta, all);
  m.tokenizer = tokenizer_from_gguf(meta, options.vocabulary);
  m.tokenizer_tokens = meta.has("tokenizer.ggml.tokens") ? static_cast<int64_t>(meta.find("tokenizer.ggml.tokens")->count) : 0;
  const GgufValue* merges = meta.find("tokenizer.ggml.merges");
  m.tokenizer_merges = merges && m.tokenizer_tokens > 0 ? static_cast<int64_t>(merges->count) : 0;
  for (size_t k = 0; k < all.size(); ++k) {
    const GgufTensorInfo& info = *all[k];
    TensorRef t;
    t.name = canonical_tensor_name(info.name);
    t.source_name = info.name;
    t.dtype = info.dtype;
    t.shape = info.shape();
    t.bytes = info.data;
    t.file = k < part_of.size() && part_of[k] < files.size() ? files[part_of[k]] : nullptr;
    const std::string file = parts[part_of[k]].path;
    if (!m.tensors.emplace(t.name, std::move(t)).second)
      throw_bad_input(file + ": tensor '" + info.name + "' appears twice" +
                      (parts.size() > 1 ? " in the split set" : " (under two spellings)"));
  }
  check_model(m);
  return m;
}

Model load_gguf(const std::string& path, const LoadOptions& options) {
  auto first = MappedFile::open(path);
  GgufFile g = parse_gguf(first->bytes(), path, first.get());
  const auto split = parse_split_name(path);
  const uint64_t declared = g.has("split.count") ? g.get_uint("split.count") : 1;
  if (!split) {
    if (declared > 1)
      g.fail_key("split.count", "the file is one of " + std::to_string(declared) +
                                    " parts, but its name does not end in -0000i-of-0000N.gguf");
    return gguf_to_model({std::move(g)}, {first}, path, options);
  }
  if (split->count < 1 || split->index < 1 || split->index > split->count)
    throw_bad_input(path + ": split name says part " + std::to_string(split->index) + " of " +
                    std::to_string(split->count));

  std::vector<GgufFile> parts;
  std::vector<std::shared_ptr<const MappedFile>> files;
  uint64_t total_tensors = 0;
  for (int i = 1; i <= split->count; ++i) {
    const std::string p = split_path(*split, i);
    auto f = i == split->index ? first : MappedFile::open(p);
    GgufFile part = i == split->index ? std::move(g) : parse_gguf(f->bytes(), p, f.get());
    if (split->count > 1) {
      if (part.get_uint("split.count") != static_cast<uint64_t>(split->count))
        part.fail_key("split.count", "is " + std::to_string(part.get_uint("split.count")) + ", but the name says " +
                                         std::to_string(split->count) + " parts");
      if (part.get_uint("split.no") != static_cast<uint64_t>(i - 1))
        part.fail_key("split.no", "is " + std::to_string(part.get_uint("split.no")) + ", but the name says part " +
                                      std::to_string(i) + " (split.no " + std::to_string(i - 1) + ")");
    }
    total_tensors += part.tensors.size();
    parts.push_back(std::move(part));
    files.push_back(std::move(f));
  }
  if (parts[0].has("split.tensors.count") && parts[0].get_uint("split.tensors.count") != total_tensors)
    parts[0].fail_key("split.tensors.count", "is " + std::to_string(parts[0].get_uint("split.tensors.count")) +
                                                 ", but the " + std::to_string(split->count) + " files hold " +
                                                 std::to_string(total_tensors) + " tensors");
  return gguf_to_model(parts, files, path, options);
}

}  // namespace aprc
