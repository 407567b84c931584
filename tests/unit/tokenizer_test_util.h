// Shared by the tokenizer tests: where the fixtures are, the Qwen tokenizer built from the fixture's
// tokenizer.json, and small synthetic byte-level vocabularies.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "aprc/tokenizer.h"
#include "aprc/tokenizer_data.h"
#include "aprc/tokenizer_json.h"

namespace aprc::test {

inline std::string fixtures_dir() {
  const char* env = std::getenv("APRC_FIXTURES");
  return env && *env ? env : "../shared/fixtures";
}

inline bool fixture_exists(const std::string& name) {
  return std::ifstream(fixtures_dir() + "/" + name).good();
}

#define APRC_REQUIRE_FIXTURE(name)                                                           \
  if (!::aprc::test::fixture_exists(name))                                                   \
  GTEST_SKIP() << "fixture " << ::aprc::test::fixtures_dir() << "/" << (name)                \
               << " is absent (set APRC_FIXTURES to the shared fixtures folder)"

// The Qwen tokenizer of the fixtures (built once; nullptr when the fixture is absent).
inline const Tokenizer* qwen_tokenizer() {
  static const Tokenizer* t = [] () -> const Tokenizer* {
    std::string path = fixtures_dir() + "/qwen-tokenizer/tokenizer.json";
    if (!std::ifstream(path).good()) return nullptr;
    return new Tokenizer(load_tokenizer_json(path), path);
  }();
  return t;
}

#define APRC_REQUIRE_QWEN_TOKENIZER()                                                        \
  if (!::aprc::test::qwen_tokenizer())                                                       \
  GTEST_SKIP() << "fixture " << ::aprc::test::fixtures_dir()                                 \
               << "/qwen-tokenizer/tokenizer.json is absent (set APRC_FIXTURES)"

// GPT-2's byte -> character table, written out here independently of the library's.
inline std::string byte_char(unsigned b) {
  auto printable = [](unsigned x) { return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174); };
  unsigned cp = b, extra = 0;
  if (!printable(b)) {
    for (unsigned x = 0; x < b; ++x) extra += !printable(x);
    cp = 256 + extra;
  }
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
  return s;
}

inline std::string byte_level(const std::string& bytes) {
  std::string s;
  for (unsigned char b : bytes) s += byte_char(b);
  return s;
}

// A byte-level vocabulary: the 256 byte tokens (id = byte), then one token per merge (in order),
// then the given added tokens. `merges` are pairs of raw byte strings.
inline TokenizerData synthetic_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                                         const std::vector<std::pair<std::string, TokenType>>& added = {},
                                         const std::string& pre_regex = "(?s).+") {
  TokenizerData d;
  d.pre_regex = pre_regex;
  for (unsigned b = 0; b < 256; ++b) d.tokens.push_back(byte_char(b));
  for (const auto& [l, r] : merges) {
    d.merges.push_back(byte_level(l) + " " + byte_level(r));
    d.tokens.push_back(byte_level(l + r));
  }
  d.token_types.assign(d.tokens.size(), TokenType::Normal);
  for (const auto& [text, type] : added) {
    d.tokens.push_back(text);
    d.token_types.push_back(type);
  }
  return d;
}

}  // namespace aprc::test
