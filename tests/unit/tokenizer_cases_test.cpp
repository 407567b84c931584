// The Qwen tokenizer against the fixture's 50 cases (ids from transformers.js, re-checked with
// Hugging Face tokenizers): every case must give exactly the listed ids and decode back.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "aprc/error.h"
#include "aprc/model.h"
#include "tokenizer_test_util.h"

namespace aprc {
namespace {

struct Case {
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(test::fixtures_dir() + "/qwen-tokenizer-cases.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    cases.push_back({j["text"], j["ids"].get<std::vector<int32_t>>(), j["decoded"]});
  }
  return cases;
}

void expect_all_cases(const Tokenizer& tok) {
  auto cases = load_cases();
  ASSERT_EQ(cases.size(), 50u);
  for (const Case& c : cases) {
    EXPECT_EQ(tok.encode(c.text), c.ids) << "text: " << c.text;
    EXPECT_EQ(tok.decode(c.ids), c.decoded) << "text: " << c.text;
  }
}

TEST(QwenTokenizer, EncodesAllFixtureCasesExactly) {
  APRC_REQUIRE_FIXTURE("qwen-tokenizer-cases.jsonl");
  APRC_REQUIRE_QWEN_TOKENIZER();
  expect_all_cases(*test::qwen_tokenizer());
}

TEST(QwenTokenizer, FromGgufGivesTheSameIdsAsFromTokenizerJson) {
  APRC_REQUIRE_FIXTURE("qwen-tokenizer-cases.jsonl");
  APRC_REQUIRE_FIXTURE("qwen2-tiny-q4km.gguf");
  const std::string path = test::fixtures_dir() + "/qwen2-tiny-q4km.gguf";
  Model model = load_model(path);
  EXPECT_TRUE(model.tokenizer.pre_regex.empty());  // GGUF names the pre-tokenizer: "qwen2"
  EXPECT_EQ(model.tokenizer.pre, "qwen2");
  Tokenizer tok(model.tokenizer, path);
  expect_all_cases(tok);
  EXPECT_EQ(tok.size(), 151936);
  EXPECT_TRUE(tok.is_stop(151645));
  EXPECT_TRUE(tok.is_stop(151643));
  // The [PADn] rows past the vocabulary decode to nothing.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{9707, 151935}), "Hello");
}

TEST(QwenTokenizer, EncodesControlTokensOnlyWhenAllowed) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  const int32_t im_end = *tok.find_token("<|im_end|>");
  EXPECT_EQ(im_end, 151645);
  EXPECT_EQ(tok.encode("<|im_end|>"), std::vector<int32_t>{im_end});
  auto literal = tok.encode("<|im_end|>", /*parse_special=*/false);
  EXPECT_GT(literal.size(), 1u);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), im_end), 0);
  EXPECT_EQ(tok.decode(literal), "<|im_end|>");
  // Non-control added tokens (<think>) are recognized either way, as Hugging Face does.
  EXPECT_EQ(tok.encode("<think>", false), std::vector<int32_t>{*tok.find_token("<think>")});
}

TEST(QwenTokenizer, StopsOnImEndEndOfTextAndEos) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  EXPECT_TRUE(tok.is_stop(151645));  // <|im_end|>
  EXPECT_TRUE(tok.is_stop(151643));  // <|endoftext|>
  EXPECT_FALSE(tok.is_stop(151644));  // <|im_start|>
  EXPECT_FALSE(tok.is_stop(9707));
  TokenizerData d = load_tokenizer_json(test::fixtures_dir() + "/qwen-tokenizer/tokenizer.json");
  d.eos_id = 30;
  EXPECT_TRUE(Tokenizer(d).is_stop(30));
}

TEST(QwenTokenizer, NormalizesToNfcBeforeSplitting) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  // "café" spelled with a combining acute accent encodes as the precomposed é does.
  EXPECT_EQ(tok.encode("cafe\xCC\x81"), tok.encode("caf\xC3\xA9"));
  EXPECT_EQ(tok.encode("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), tok.encode("\xED\x95\x9C"));  // Hangul jamo -> 한
}

TEST(QwenTokenizer, DecodeSkipsControlTokensOnRequest) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  auto ids = tok.encode("<|im_start|>user\nhi<|im_end|>");
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), "user\nhi");
}

TEST(QwenTokenizer, RejectsBadIdsAndInvalidUtf8) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  std::vector<int32_t> bad = {9707, tok.size()};
  try {
    tok.decode(bad);
    FAIL() << "decode accepted an id past the vocabulary";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find(std::to_string(tok.size())), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok.decode(std::vector<int32_t>{-1}), Error);
  EXPECT_THROW(tok.encode("ab\xC3"), Error);
  EXPECT_THROW(tok.encode("\xED\xA0\x80"), Error);  // a UTF-16 surrogate
}

TEST(QwenTokenizer, RoundTripsALongMixedText) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "Paragraph " + std::to_string(i) + ": naïve café, 日本語のテキスト, Привет! 🙂\n\tdef f(x):\n    return x**2  \r\n";
  auto ids = tok.encode(text);
  EXPECT_EQ(tok.decode(ids), text);
  // Splitting the text where a piece starts gives the same ids as the whole.
  size_t half = text.find("Paragraph", text.size() / 2);
  auto a = tok.encode(text.substr(0, half)), b = tok.encode(text.substr(half));
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(a, ids);
}

}  // namespace
}  // namespace aprc
