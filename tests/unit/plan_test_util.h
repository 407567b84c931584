// Helpers for the plan and runtime tests: temporary files and small, fully populated manifests.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "aprc/plan.h"

namespace aprc::test {

// A directory under $TMPDIR removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/aprc_test_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// A small tokenizer: enough for the manifest to carry and round-trip every field.
inline TokenizerData small_tokenizer() {
  TokenizerData t;
  t.tokens = {"a", "b", "ab", "<|im_end|>", "Ġthe"};
  t.token_types = {TokenType::Normal, TokenType::Normal, TokenType::Normal, TokenType::Control, TokenType::Normal};
  t.merges = {"a b"};
  t.eos_id = 3;
  t.pre_regex = "\\s+";
  t.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
  return t;
}

inline ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 96;
  c.vocab_size = 5;
  c.tied_embeddings = true;
  c.max_position_embeddings = 128;
  return c;
}

}  // namespace aprc::test
