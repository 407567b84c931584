// A Hugging Face model folder -> the canonical Model: config.json (either spelling of every key),
// the weights from model.safetensors or the shards named by model.safetensors.index.json, and the
// tokenizer from tokenizer.json.
#include <filesystem>
#include <set>

#include "aprc/config_json.h"
#include "aprc/error.h"
#include "aprc/tokenizer_json.h"
#include "readers.h"
#include "tensor_names.h"

namespace aprc {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json read_json_file(const std::string& path) {
  auto f = MappedFile::open(path);
  return parse_json_text(std::string_view(reinterpret_cast<const char*>(f->data()), f->size()), path);
}

bool present(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// eos/bos ids from config.json or generation_config.json: an id, or a list whose first is used.
int64_t config_token_id(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  const json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
  if (!v.is_number_integer() || v.get<int64_t>() < 0) throw_bad_input(path + ": key '" + key + "': expected a token id");
  return v.get<int64_t>();
}

}  // namespace

Model load_hf_folder(const std::string& dir, const LoadOptions& options) {
  const fs::path root(dir);
  const std::string config_path = (root / "config.json").string();
  if (!present(config_path)) throw_bad_input(dir + ": no config.json (not a Hugging Face model folder)");
  const json config = read_json_file(config_path);

  Model m;
  m.format = "safetensors";
  m.path = dir;
  ConfigFromJson parsed = config_from_json(config, config_path);
  m.config = parsed.config;
  if (m.config.vocab_size == 0) throw_bad_input(config_path + ": key 'vocab_size': missing");
  // The checkpoint's dtype is informational (each tensor carries its own); transformers 5 spells it
  // "dtype", older versions "torch_dtype".
  for (const char* key : {"dtype", "torch_dtype"})
    if (auto it = config.find(key); it != config.end() && !it->is_null() && !it->is_string())
      throw_bad_input(config_path + ": key '" + key + "': expected a string such as \"bfloat16\"");

  // Weights: one file, or the shards the index names.
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;  // tensor -> shard, from the index
  const fs::path index_path = root / "model.safetensors.index.json";
  if (present(index_path)) {
    const json index = read_json_file(index_path.string());
    auto map = index.is_object() ? index.find("weight_map") : index.end();
    if (!index.is_object() || map == index.end() || !map->is_object())
      throw_bad_input(index_path.string() + ": key 'weight_map': missing or not an object");
    std::set<std::string> shards;
    for (auto it = map->begin(); it != map->end(); ++it) {
      if (!it.value().is_string())
        throw_bad_input(index_path.string() + ": key 'weight_map." + it.key() + "': expected a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        throw_bad_input(index_path.string() + ": key 'weight_map." + it.key() + "': '" + shard +
                        "' is not a file name in the folder");
      weight_map[it.key()] = shard;
      if (shards.insert(shard).second) files.push_back(shard);
    }
  } else if (present(root / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    throw_bad_input(dir + ": no model.safetensors or model.safetensors.index.json");
  }

  std::map<std::string, std::string> found_in;
  for (const std::string& name : files) {
    const std::string path = (root / name).string();
    auto file = MappedFile::open(path);
    for (SafetensorsTensor& st : parse_safetensors(file->bytes(), path)) {
      TensorRef t;
      t.name = canonical_tensor_name(st.name);
      t.source_name = st.name;
      t.dtype = st.dtype;
      t.shape = std::move(st.shape);
      t.bytes = st.data;
      t.file = file;
      if (!m.tensors.emplace(t.name, std::move(t)).second)
        throw_bad_input(path + ": tensor '" + st.name + "' also appears in " + found_in[st.name]);
      found_in[st.name] = name;
    }
  }
  for (const auto& [tensor, shard] : weight_map)
    if (found_in.count(tensor) == 0 || found_in[tensor] != shard)
      throw_bad_input(index_path.string() + ": tensor '" + tensor + "' is not in " + shard);

  // Tied: as config.json says, else by lm_head's absence. A tied model's lm_head (if saved) is the
  // embedding itself, so it is dropped.
  m.config.tied_embeddings = parsed.tied.value_or(m.find(names::lm_head()) == nullptr);
  if (m.config.tied_embeddings) m.tensors.erase(names::lm_head());

  const fs::path tokenizer_path = root / "tokenizer.json";
  if (present(tokenizer_path)) {
    TokenizerData& t = m.tokenizer;
    t = load_tokenizer_json(tokenizer_path.string());
    // Ids the tokenizer files leave open come from generation_config.json, then config.json.
    json generation;
    const fs::path gen_path = root / "generation_config.json";
    if (present(gen_path)) generation = read_json_file(gen_path.string());
    for (auto [key, id] : {std::pair{"bos_token_id", &t.bos_id}, std::pair{"eos_token_id", &t.eos_id},
                           std::pair{"pad_token_id", &t.pad_id}}) {
      if (*id >= 0) continue;
      if (generation.is_object()) *id = config_token_id(generation, key, gen_path.string());
      if (*id < 0) *id = config_token_id(config, key, config_path);
    }
    // The embedding may have more rows than the tokenizer has tokens: fill them as GGUF converters
    // do, so that token ids and rows agree whatever file a model came from.
    for (int64_t id = static_cast<int64_t>(t.tokens.size()); id < m.config.vocab_size; ++id) {
      t.tokens.push_back("[PAD" + std::to_string(id) + "]");
      t.token_types.push_back(TokenType::Unused);
    }
  }
  settle_tokenizer(m, options);
  check_model(m);
  return m;
}

}  // namespace aprc
