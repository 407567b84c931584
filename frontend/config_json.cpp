#include "aprc/config_json.h"

#include <cmath>
#include <initializer_list>

#include "aprc/error.h"

namespace aprc {
namespace {

using json = nlohmann::json;

// A short, safe rendering of a value for an error message (no recursion into deep containers).
std::string describe(const json& v) {
  if (v.is_structured()) return std::string("an ") + v.type_name();
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

struct Reader {
  const json& j;
  const std::string& path;

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw_bad_input(path + ": key '" + key + "': " + message);
  }

  // The first of `keys` present (and not null) in `obj`, with the key's spelling.
  std::pair<const json*, std::string> first(const json& obj, std::initializer_list<const char*> keys) const {
    for (const char* k : keys) {
      auto it = obj.find(k);
      if (it != obj.end() && !it->is_null()) return {&*it, k};
    }
    return {nullptr, ""};
  }

  std::optional<int64_t> opt_int(std::initializer_list<const char*> keys) const {
    auto [v, key] = first(j, keys);
    if (!v) return std::nullopt;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        fail(key, "integer out of range");
      return v->get<int64_t>();
    }
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    fail(key, "expected an integer, got " + describe(*v));
  }

  int64_t req_int(std::initializer_list<const char*> keys) const {
    if (auto v = opt_int(keys)) return *v;
    fail(*keys.begin(), missing_message(keys));
  }

  static std::optional<double> number(const json& v) {
    if (v.is_number()) return v.get<double>();
    return std::nullopt;
  }

  std::string missing_message(std::initializer_list<const char*> keys) const {
    std::string m = "missing";
    if (keys.size() > 1) {
      m += " (also looked for";
      for (auto it = keys.begin() + 1; it != keys.end(); ++it) m += std::string(" '") + *it + "'";
      m += ")";
    }
    return m;
  }
};

std::string architecture_from(const Reader& r) {
  auto [v, key] = r.first(r.j, {"architecture", "model_type"});
  if (v) {
    if (!v->is_string()) r.fail(key, "expected a string, got " + describe(*v));
    return v->get<std::string>();
  }
  auto [a, akey] = r.first(r.j, {"architectures"});
  if (a && a->is_array() && !a->empty() && (*a)[0].is_string()) {
    // Hugging Face class names: Qwen2ForCausalLM -> qwen2
    std::string name = (*a)[0].get<std::string>();
    const std::string suffix = "ForCausalLM";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      name.resize(name.size() - suffix.size());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }
  r.fail("architecture", "missing (also looked for 'model_type' and 'architectures')");
}

// Refuses rope scaling, which changes the rotary math: aprc compiles plain (default) RoPE.
void check_rope_scaling(const Reader& r, const json& obj, const std::string& where) {
  if (!obj.is_object()) r.fail(where, "expected an object, got " + describe(obj));
  for (const char* k : {"rope_type", "type"}) {
    auto it = obj.find(k);
    if (it == obj.end() || it->is_null()) continue;
    if (!it->is_string()) r.fail(where + "." + k, "expected a string, got " + describe(*it));
    const std::string t = it->get<std::string>();
    if (t != "default" && t != "none")
      r.fail(where + "." + k, "rope scaling '" + t + "' is not supported (aprc compiles default RoPE)");
  }
}

}  // namespace

json parse_json_text(std::string_view text, const std::string& path, const json::parser_callback_t& callback) {
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    const std::string what = e.what();
    throw_bad_input(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + what.substr(what.find(':') + 2));
  } catch (const json::exception& e) {  // e.g. out_of_range 406: a number too large for a double
    const std::string what = e.what();
    throw_bad_input(path + ": invalid JSON: " + what.substr(what.find(']') + 2));
  }
}

ConfigFromJson config_from_json(const json& j, const std::string& path) {
  if (!j.is_object()) throw_bad_input(path + ": expected a JSON object, got " + std::string(j.type_name()));
  Reader r{j, path};
  ConfigFromJson out;
  ModelConfig& c = out.config;
  c.architecture = architecture_from(r);
  c.hidden_size = r.req_int({"hidden_size"});
  c.num_layers = r.req_int({"num_layers", "num_hidden_layers"});
  c.num_heads = r.req_int({"num_heads", "num_attention_heads"});
  c.num_kv_heads = r.opt_int({"num_kv_heads", "num_key_value_heads"}).value_or(c.num_heads);
  c.intermediate_size = r.req_int({"intermediate_size"});
  c.vocab_size = r.opt_int({"vocab_size"}).value_or(0);  // 0: the reader takes the embedding's rows
  if (auto hd = r.opt_int({"head_dim"})) {
    c.head_dim = *hd;
  } else {
    if (c.num_heads <= 0) r.fail("num_heads", "must be positive, got " + std::to_string(c.num_heads));
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (auto m = r.opt_int({"max_position_embeddings"})) c.max_position_embeddings = *m;

  // rope_theta: top level (APR, transformers < 5) or inside rope_parameters (transformers 5).
  const json* theta = nullptr;
  std::string theta_key = "rope_theta";
  if (auto [v, k] = r.first(j, {"rope_theta"}); v) theta = v;
  if (auto [p, pk] = r.first(j, {"rope_parameters"}); p) {
    check_rope_scaling(r, *p, "rope_parameters");
    if (!theta) {
      if (auto it = p->find("rope_theta"); it != p->end() && !it->is_null()) {
        theta = &*it;
        theta_key = "rope_parameters.rope_theta";
      }
    }
  }
  if (auto [s, sk] = r.first(j, {"rope_scaling"}); s) check_rope_scaling(r, *s, "rope_scaling");
  if (!theta) r.fail("rope_theta", "missing (also looked for 'rope_parameters.rope_theta')");
  auto theta_value = Reader::number(*theta);
  if (!theta_value) r.fail(theta_key, "expected a number, got " + describe(*theta));
  c.rope_theta = *theta_value;

  // rope_type: APR writes 2 for NeoX (rotate-half) and 0 for the interleaved form; Hugging Face's
  // Qwen2 is always NeoX.
  if (auto [v, k] = r.first(j, {"rope_type"}); v) {
    if (v->is_number_integer()) {
      const int64_t t = v->get<int64_t>();
      if (t == 2) c.rope_type = RopeType::Neox;
      else if (t == 0) c.rope_type = RopeType::Normal;
      else r.fail(k, "unknown rope type " + std::to_string(t) + " (2 = NeoX, 0 = normal)");
    } else if (v->is_string() && (*v == "neox" || *v == "normal")) {
      c.rope_type = *v == "neox" ? RopeType::Neox : RopeType::Normal;
    } else {
      r.fail(k, "expected 2 (NeoX) or 0 (normal), got " + describe(*v));
    }
  } else {
    c.rope_type = RopeType::Neox;
  }

  auto [eps, eps_key] = r.first(j, {"rms_norm_eps"});
  if (!eps) r.fail("rms_norm_eps", "missing");
  auto eps_value = Reader::number(*eps);
  if (!eps_value) r.fail(eps_key, "expected a number, got " + describe(*eps));
  c.rms_norm_eps = *eps_value;

  if (auto [t, tk] = r.first(j, {"tie_word_embeddings", "tied_embeddings"}); t) {
    if (!t->is_boolean()) r.fail(tk, "expected true or false, got " + describe(*t));
    out.tied = t->get<bool>();
    c.tied_embeddings = *out.tied;
  }
  return out;
}

const char* rope_type_name(RopeType type) { return type == RopeType::Neox ? "neox" : "normal"; }

json config_to_json(const ModelConfig& c) {
  return json{
      {"architecture", c.architecture},
      {"hidden_size", c.hidden_size},
      {"num_layers", c.num_layers},
      {"num_heads", c.num_heads},
      {"num_kv_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"intermediate_size", c.intermediate_size},
      {"vocab_size", c.vocab_size},
      {"rope_theta", c.rope_theta},
      {"rope_type", rope_type_name(c.rope_type)},
      {"rms_norm_eps", c.rms_norm_eps},
      {"max_position_embeddings", c.max_position_embeddings},
      {"tied_embeddings", c.tied_embeddings},
  };
}

}  // namespace aprc
