#include <gtest/gtest.h>

#include "aprc/error.h"
#include "aprc/model.h"
#include "aprc/tokenizer_json.h"
#include "frontend_test_util.h"

namespace aprc {
namespace {

TEST(TokenizerJson, QwenTokenizerMatchesTheGgufFixtureVocabulary) {
  APRC_FIXTURE_OR_SKIP(json_path, "qwen-tokenizer/tokenizer.json");
  APRC_FIXTURE_OR_SKIP(gguf_path, "qwen2-tiny-q4km.gguf");
  const TokenizerData t = load_tokenizer_json(json_path);
  // llama.cpp's converter wrote the GGUF fixture's vocabulary from the same Qwen tokenizer: the two
  // readers must agree token for token (the GGUF adds [PADn] fillers up to the embedding rows).
  const TokenizerData g = load_model(gguf_path).tokenizer;
  ASSERT_EQ(t.tokens.size(), 151669u);
  ASSERT_EQ(t.token_types.size(), t.tokens.size());
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    ASSERT_EQ(t.tokens[i], g.tokens[i]) << "token " << i;
    ASSERT_EQ(t.token_types[i], g.token_types[i]) << "token " << i << " " << t.tokens[i];
  }
  ASSERT_EQ(t.merges, g.merges);
  EXPECT_EQ(t.model, "gpt2");
  EXPECT_EQ(t.pre, "qwen2");
  EXPECT_NE(t.pre_regex.find("\\p{L}"), std::string::npos);
  // From tokenizer_config.json beside it.
  EXPECT_EQ(t.eos_id, 151645);  // <|im_end|>
  EXPECT_EQ(t.pad_id, 151643);  // <|endoftext|>
  EXPECT_EQ(t.bos_id, -1);      // null
  EXPECT_FALSE(t.add_bos);
  EXPECT_EQ(t.chat_template, g.chat_template);
}

// A small tokenizer.json in the older spelling: merges as "a b" strings; added tokens with gaps.
constexpr const char* kSmallTokenizer = R"({
  "added_tokens": [
    {"id": 7, "content": "<|end|>", "special": true},
    {"id": 5, "content": "<tool>", "special": false}
  ],
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "\\s+|\\w+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false}]},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b", "Ġ a"]}
})";

TEST(TokenizerJson, ReadsStringMergesAddedTokensAndConfig) {
  testing::ScratchDir dir;
  testing::write_text(dir.file("tokenizer.json"), kSmallTokenizer);
  testing::write_text(dir.file("tokenizer_config.json"),
                      R"({"bos_token": null, "eos_token": {"content": "<|end|>"}, "pad_token": "ab",
                          "add_bos_token": true, "chat_template": "{{ messages }}"})");
  const TokenizerData t = load_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_EQ(t.tokens.size(), 8u);
  EXPECT_EQ(t.tokens[2], "ab");
  EXPECT_EQ(t.tokens[4], "[PAD4]");
  EXPECT_EQ(t.token_types[4], TokenType::Unused);
  EXPECT_EQ(t.tokens[5], "<tool>");
  EXPECT_EQ(t.token_types[5], TokenType::UserDefined);
  EXPECT_EQ(t.tokens[7], "<|end|>");
  EXPECT_EQ(t.token_types[7], TokenType::Control);
  EXPECT_EQ(t.token_types[0], TokenType::Normal);
  EXPECT_EQ(t.merges, (std::vector<std::string>{"a b", "Ġ a"}));
  EXPECT_EQ(t.pre_regex, "\\s+|\\w+");
  EXPECT_EQ(t.pre, "custom");
  EXPECT_EQ(t.bos_id, -1);
  EXPECT_EQ(t.eos_id, 7);
  EXPECT_EQ(t.pad_id, 2);
  EXPECT_TRUE(t.add_bos);
  EXPECT_EQ(t.chat_template, "{{ messages }}");
}

TEST(TokenizerJson, PairMergesAndNoConfig) {
  testing::ScratchDir dir;
  testing::write_text(dir.file("tokenizer.json"),
                      R"({"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE",
                          "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})");
  testing::write_text(dir.file("chat_template.jinja"), "{% for m in messages %}{{ m }}{% endfor %}");
  const TokenizerData t = load_tokenizer_json(dir.file("tokenizer.json"));
  EXPECT_EQ(t.merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(t.pre, "gpt2");
  EXPECT_TRUE(t.pre_regex.empty());
  EXPECT_EQ(t.eos_id, -1);
  EXPECT_EQ(t.chat_template, "{% for m in messages %}{{ m }}{% endfor %}");
}

// Each bad tokenizer gives a BadInput naming the file and the key.
TEST(TokenizerJson, BadInputNamesTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"model": {"type": "Unigram", "vocab": []}})", "model.type"},
      {R"({"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}}})", "pre_tokenizer"},
      {R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": -1}}})", "model.vocab"},
      {R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}})", "model.vocab"},
      {R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}})",
       "model.merges"},
      {R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})",
       "model.merges"},
      {R"({"decoder": {"type": "ByteLevel"}, "added_tokens": [{"id": 0, "content": "x"}],
           "model": {"type": "BPE", "vocab": {"a": 0}}})", "added_tokens[0]"},
      {R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}}, "x": )", "invalid JSON"},
  };
  for (const auto& [text, key] : cases) {
    SCOPED_TRACE(text);
    testing::ScratchDir dir;
    testing::write_text(dir.file("tokenizer.json"), text);
    try {
      load_tokenizer_json(dir.file("tokenizer.json"));
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("tokenizer.json: "), std::string::npos) << msg;
      EXPECT_NE(msg.find(key), std::string::npos) << msg;
    }
  }
}

TEST(TokenizerJson, UnknownSpecialTokenInConfigIsBadInput) {
  testing::ScratchDir dir;
  testing::write_text(dir.file("tokenizer.json"), kSmallTokenizer);
  testing::write_text(dir.file("tokenizer_config.json"), R"({"eos_token": "<|nope|>"})");
  try {
    load_tokenizer_json(dir.file("tokenizer.json"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: key 'eos_token': token '<|nope|>' is not in the vocabulary"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace aprc
