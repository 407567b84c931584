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

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others for U+0100 onward.
inline std::string byte_token(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Ids 0..255 are the bytes; 256 is <|im_end|>.
inline TokenizerData byte_tokenizer() {
  TokenizerData t;
  for (int b = 0; b < 256; ++b) t.tokens.push_back(byte_token(b));
  t.tokens.push_back("<|im_end|>");
  t.token_types.assign(256, TokenType::Normal);
  t.token_types.push_back(TokenType::Control);
  t.eos_id = 256;
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
