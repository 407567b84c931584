// aprc inspect FILE [--json]: what a model file holds (config, tokenizer, tensors), read through the
// same importers the compiler uses, so a file that inspects cleanly also loads.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aprc/config_json.h"
#include "aprc/model.h"
#include "args.h"
#include "commands.h"

namespace aprc {
namespace {

using json = nlohmann::json;

constexpr const char* kUsage =
    "usage: aprc inspect FILE [--json]\n"
    "  FILE: a .gguf file (any file of a split set), an .apr file, or a Hugging Face folder.\n"
    "  --json: one JSON object: format, architecture, config, tokenizer, tensors, total_bytes.\n";

json tokenizer_json(const Model& m) {
  const TokenizerData& t = m.tokenizer;
  int64_t by_type[7] = {};
  for (TokenType tt : t.token_types) ++by_type[static_cast<int>(tt)];
  return json{
      {"model", t.model},
      {"pre", t.pre},
      {"tokens", m.tokenizer_tokens},
      {"merges", m.tokenizer_merges},
      {"bos_token_id", t.bos_id},
      {"eos_token_id", t.eos_id},
      {"pad_token_id", t.pad_id},
      {"add_bos_token", t.add_bos},
      {"control_tokens", by_type[static_cast<int>(TokenType::Control)]},
      {"user_defined_tokens", by_type[static_cast<int>(TokenType::UserDefined)]},
      {"unused_tokens", by_type[static_cast<int>(TokenType::Unused)]},
      {"has_pre_regex", !t.pre_regex.empty()},
      {"chat_template_chars", t.chat_template.size()},
  };
}

// Tensors in reading order: numbers inside names compare as numbers (layer 2 before layer 10).
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      const std::string_view x(a.data() + i, i2 - i), y(b.data() + j, j2 - j);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<const TensorRef*> in_reading_order(const Model& m) {
  std::vector<const TensorRef*> out;
  for (const auto& [name, t] : m.tensors) out.push_back(&t);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return natural_less(a->name, b->name); });
  return out;
}

json model_json(const Model& m) {
  json tensors = json::array();
  uint64_t total = 0;
  for (const TensorRef* tp : in_reading_order(m)) {
    const TensorRef& t = *tp;
    const std::string& name = t.name;
    tensors.push_back(json{{"name", name},
                           {"source_name", t.source_name},
                           {"dtype", dtype_name(t.dtype)},
                           {"shape", t.shape},
                           {"bytes", t.bytes.size()}});
    total += t.bytes.size();
  }
  return json{{"format", m.format},
              {"path", m.path},
              {"architecture", m.config.architecture},
              {"config", config_to_json(m.config)},
              {"tokenizer", tokenizer_json(m)},
              {"tensors", std::move(tensors)},
              {"total_bytes", total}};
}

std::string human_bytes(uint64_t b) {
  if (b < 10 * 1024) return fmt::format("{} B", b);
  if (b < 10 * 1024 * 1024) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (b < 10ull * 1024 * 1024 * 1024) return fmt::format("{:.1f} MiB", b / 1048576.0);
  return fmt::format("{:.2f} GiB", b / 1073741824.0);
}

void print_table(const Model& m) {
  const ModelConfig& c = m.config;
  fmt::print("{}: {} ({})\n", m.path, c.architecture, m.format);
  fmt::print("  hidden_size {}  num_layers {}  num_heads {}  num_kv_heads {}  head_dim {}\n", c.hidden_size,
             c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim);
  fmt::print("  intermediate_size {}  vocab_size {}  tied_embeddings {}\n", c.intermediate_size, c.vocab_size,
             c.tied_embeddings ? "yes" : "no");
  fmt::print("  rope {} theta {:g}  rms_norm_eps {:g}  max_position_embeddings {}\n", rope_type_name(c.rope_type),
             c.rope_theta, c.rms_norm_eps, c.max_position_embeddings);
  const TokenizerData& t = m.tokenizer;
  if (m.tokenizer_tokens == 0) {
    fmt::print("tokenizer: none\n");
  } else {
    fmt::print("tokenizer: {} (pre {}), {} tokens, {} merges, bos {}, eos {}, pad {}{}\n", t.model, t.pre,
               m.tokenizer_tokens, m.tokenizer_merges, t.bos_id, t.eos_id, t.pad_id,
               t.chat_template.empty() ? "" : ", chat template");
  }
  size_t name_w = 4, shape_w = 5;
  uint64_t total = 0;
  for (const auto& [name, tr] : m.tensors) {
    name_w = std::max(name_w, name.size());
    shape_w = std::max(shape_w, fmt::format("{}", fmt::join(tr.shape, " x ")).size());
    total += tr.bytes.size();
  }
  fmt::print("tensors: {}, {}\n", m.tensors.size(), human_bytes(total));
  fmt::print("  {:<{}}  {:<7}  {:<{}}  {:>10}\n", "name", name_w, "dtype", "shape", shape_w, "bytes");
  for (const TensorRef* tp : in_reading_order(m)) {
    const TensorRef& tr = *tp;
    const std::string& name = tr.name;
    fmt::print("  {:<{}}  {:<7}  {:<{}}  {:>10}\n", name, name_w, dtype_name(tr.dtype),
               fmt::format("{}", fmt::join(tr.shape, " x ")), shape_w, tr.bytes.size());
  }
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  cli::Args args("inspect", argc, argv, {}, {"json", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positionals(1, 1);
  // The vocabulary's strings are counted, not kept: inspecting a model costs a few MB.
  const Model m = load_model(args.positional(0, "FILE"), LoadOptions{.vocabulary = false});
  if (args.flag("json")) {
    std::puts(model_json(m).dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    print_table(m);
  }
  return 0;
}

}  // namespace aprc
