#include "aprc/tokenizer_json.h"

#include <filesystem>
#include <map>

#include "aprc/config_json.h"
#include "aprc/error.h"
#include "aprc/mapped_file.h"

namespace aprc {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxTokenId = int64_t{1} << 24;

[[noreturn]] void fail(const std::string& path, const std::string& key, const std::string& message) {
  throw_bad_input(path + ": key '" + key + "': " + message);
}

// obj[key] when it is a string, else "" (json::value would throw on a type mismatch).
std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Finds the Split pre-tokenizer's regex, at the top or inside a Sequence.
const json* find_split_regex(const json& pre) {
  if (!pre.is_object()) return nullptr;
  auto type = pre.find("type");
  if (type == pre.end() || !type->is_string()) return nullptr;
  if (*type == "Split") {
    auto pattern = pre.find("pattern");
    if (pattern != pre.end() && pattern->is_object()) {
      auto regex = pattern->find("Regex");
      if (regex != pattern->end() && regex->is_string()) return &*regex;
    }
    return nullptr;
  }
  if (*type == "Sequence") {
    auto list = pre.find("pretokenizers");
    if (list == pre.end() || !list->is_array()) return nullptr;
    for (const json& p : *list)
      if (const json* r = find_split_regex(p)) return r;
  }
  return nullptr;
}

// Whether any component (at the top or in a Sequence) is ByteLevel.
bool has_byte_level(const json& j, const char* list_key) {
  if (!j.is_object()) return false;
  auto type = j.find("type");
  if (type != j.end() && *type == "ByteLevel") return true;
  auto list = j.find(list_key);
  if (list != j.end() && list->is_array())
    for (const json& p : *list)
      if (string_at(p, "type") == "ByteLevel") return true;
  return false;
}

// llama.cpp's converter also makes "<|...|>" added tokens Control even where tokenizer.json does not
// flag them special (Qwen's <|fim_prefix|> and friends); doing the same keeps the token types of a
// model identical whether it is read from GGUF or from its Hugging Face folder.
bool looks_like_control(const std::string& s) {
  return s.size() >= 4 && s.compare(0, 2, "<|") == 0 && s.compare(s.size() - 2, 2, "|>") == 0;
}

std::string read_text(const std::string& path) {
  auto f = MappedFile::open(path);
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

// A special token in tokenizer_config.json: "text", {"content": "text", ...} or null.
std::optional<std::string> special_token_text(const json& config, const char* key, const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  fail(path, key, "expected a token string or {\"content\": ...}");
}

}  // namespace

TokenizerData tokenizer_from_json(const json& j, const std::string& path, const json* config,
                                  const std::string& config_path) {
  if (!j.is_object()) throw_bad_input(path + ": expected a JSON object");
  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) fail(path, "model", "missing");
  const std::string type = model->contains("type") ? string_at(*model, "type") : "BPE";
  if (type != "BPE") fail(path, "model.type", "tokenizer model '" + type + "' is not supported (aprc reads BPE)");
  const json empty;
  const json& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : empty;
  const json& decoder = j.contains("decoder") ? j["decoder"] : empty;
  if (!has_byte_level(pre, "pretokenizers") && !has_byte_level(decoder, "decoders"))
    fail(path, "pre_tokenizer", "not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer or decoder)");

  TokenizerData t;
  t.model = "gpt2";
  if (const json* regex = find_split_regex(pre)) {
    t.pre_regex = regex->get<std::string>();
    // The Qwen2 pattern, as llama.cpp's tokenizer.ggml.pre names it.
    static const char* kQwen2 =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    t.pre = t.pre_regex == kQwen2 ? "qwen2" : "custom";
  } else {
    t.pre = "gpt2";  // ByteLevel with its built-in GPT-2 split
  }

  // id -> (text, type), from the vocabulary and then the added tokens.
  std::map<int64_t, std::pair<std::string, TokenType>> by_id;
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) fail(path, "model.vocab", "missing or not an object");
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= kMaxTokenId)
      fail(path, "model.vocab", "token '" + it.key() + "' has a bad id");
    const int64_t id = it.value().get<int64_t>();
    if (!by_id.emplace(id, std::pair{it.key(), TokenType::Normal}).second)
      fail(path, "model.vocab", "id " + std::to_string(id) + " is given to two tokens");
  }
  if (auto added = j.find("added_tokens"); added != j.end() && !added->is_null()) {
    if (!added->is_array()) fail(path, "added_tokens", "expected an array");
    for (size_t k = 0; k < added->size(); ++k) {
      const json& a = (*added)[k];
      const std::string key = "added_tokens[" + std::to_string(k) + "]";
      if (!a.is_object()) fail(path, key, "expected an object");
      auto id = a.find("id");
      auto content = a.find("content");
      if (id == a.end() || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId)
        fail(path, key + ".id", "missing or out of range");
      if (content == a.end() || !content->is_string()) fail(path, key + ".content", "missing or not a string");
      auto special = a.find("special");
      const bool is_special = (special != a.end() && special->is_boolean() && special->get<bool>()) ||
                              looks_like_control(content->get<std::string>());
      auto& slot = by_id[id->get<int64_t>()];
      if (!slot.first.empty() && slot.first != content->get<std::string>())
        fail(path, key, "id " + std::to_string(id->get<int64_t>()) + " is already the token '" + slot.first + "'");
      slot = {content->get<std::string>(), is_special ? TokenType::Control : TokenType::UserDefined};
    }
  }
  const int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  t.tokens.resize(n);
  t.token_types.assign(n, TokenType::Unused);
  for (int64_t id = 0; id < n; ++id) t.tokens[id] = "[PAD" + std::to_string(id) + "]";
  for (auto& [id, tok] : by_id) {
    t.tokens[id] = std::move(tok.first);
    t.token_types[id] = tok.second;
  }

  // Merges: "a b" strings (older tokenizers) or ["a", "b"] pairs (tokenizers >= 0.20).
  if (auto merges = model->find("merges"); merges != model->end() && !merges->is_null()) {
    if (!merges->is_array()) fail(path, "model.merges", "expected an array");
    t.merges.reserve(merges->size());
    for (size_t k = 0; k < merges->size(); ++k) {
      const json& m = (*merges)[k];
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        if (s.find(' ') == std::string::npos || s.front() == ' ' || s.back() == ' ')
          fail(path, "model.merges", "merge " + std::to_string(k) + " is not \"a b\"");
        t.merges.push_back(s);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        t.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        fail(path, "model.merges", "merge " + std::to_string(k) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }

  if (config) {
    if (!config->is_object()) throw_bad_input(config_path + ": expected a JSON object");
    auto id_of = [&](const char* key) -> int64_t {
      auto text = special_token_text(*config, key, config_path);
      if (!text) return -1;
      for (int64_t id = n - 1; id >= 0; --id)  // added tokens sit at the end
        if (t.tokens[id] == *text) return id;
      fail(config_path, key, "token '" + *text + "' is not in the vocabulary");
    };
    t.bos_id = id_of("bos_token");
    t.eos_id = id_of("eos_token");
    t.pad_id = id_of("pad_token");
    if (auto it = config->find("add_bos_token"); it != config->end() && !it->is_null()) {
      if (!it->is_boolean()) fail(config_path, "add_bos_token", "expected true or false");
      t.add_bos = it->get<bool>();
    }
    if (auto it = config->find("chat_template"); it != config->end() && !it->is_null()) {
      if (it->is_string()) {
        t.chat_template = it->get<std::string>();
      } else if (it->is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const json& e : *it)
          if (string_at(e, "name") == "default" && e.contains("template") &&
              e["template"].is_string())
            t.chat_template = e["template"].get<std::string>();
      } else {
        fail(config_path, "chat_template", "expected a string");
      }
    }
  }
  return t;
}

TokenizerData load_tokenizer_json(const std::string& path) {
  namespace fs = std::filesystem;
  const json j = parse_json_text(read_text(path), path);
  const fs::path dir = fs::path(path).parent_path();
  const std::string config_path = (dir / "tokenizer_config.json").string();
  std::error_code ec;
  std::optional<json> config;
  if (fs::exists(config_path, ec)) config = parse_json_text(read_text(config_path), config_path);
  TokenizerData t = tokenizer_from_json(j, path, config ? &*config : nullptr, config_path);
  if (t.chat_template.empty()) {
    const std::string jinja = (dir / "chat_template.jinja").string();
    if (fs::exists(jinja, ec)) t.chat_template = read_text(jinja);
  }
  return t;
}

}  // namespace aprc
