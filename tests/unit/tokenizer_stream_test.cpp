// The streaming detokenizer: characters split across tokens are held back until complete, and the
// streamed text always equals the whole decode, invalid bytes included.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer_test_util.h"

namespace aprc {
namespace {

// Streams `ids`; every chunk must be valid UTF-8 on its own. Returns the chunks.
std::vector<std::string> stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special = false) {
  StreamDecoder dec(tok, skip_special);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(dec.push(id));
  chunks.push_back(dec.finish());
  return chunks;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x;
  return s;
}

TEST(StreamDecoder, HoldsBackCharactersSplitAcrossTokens) {
  // A byte-only vocabulary: every multi-byte character arrives one byte at a time.
  Tokenizer tok(test::synthetic_tokenizer({}));
  std::string text = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x99\x82z";  // a é 日 🙂 z
  std::vector<int32_t> ids(text.begin(), text.end());
  for (auto& id : ids) id = static_cast<unsigned char>(id);
  auto chunks = stream(tok, ids);
  std::vector<std::string> expected = {"a", "", "\xC3\xA9", "", "", "\xE6\x97\xA5", "", "", "", "\xF0\x9F\x99\x82", "z", ""};
  EXPECT_EQ(chunks, expected);
}

TEST(StreamDecoder, EqualsTheWholeDecodeOnRandomBytes) {
  Tokenizer tok(test::synthetic_tokenizer({}));
  std::mt19937 rng(99);
  const std::vector<std::string> parts = {"a", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x99\x82", "\xFF", "\x80",
                                          "\xC3", "\xE6\x97", "\xF0\x9F", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF"};
  for (int round = 0; round < 500; ++round) {
    std::vector<int32_t> ids;
    int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i)
      for (unsigned char b : parts[rng() % parts.size()]) ids.push_back(b);
    auto chunks = stream(tok, ids);
    EXPECT_EQ(join(chunks), tok.decode(ids));
  }
  // The replacement rules themselves: one U+FFFD per maximal invalid subpart, as from_utf8_lossy.
  auto bytes = [](std::string s) {
    std::vector<int32_t> v;
    for (unsigned char b : s) v.push_back(b);
    return v;
  };
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(tok.decode(bytes("a\xE6\x97z")), "a" + r + "z");
  EXPECT_EQ(tok.decode(bytes("\xED\xA0\x80")), r + r + r);
  EXPECT_EQ(tok.decode(bytes("\xF0\x9F")), r);
  EXPECT_EQ(tok.decode(bytes("\xC0\xAF")), r + r);
}

TEST(StreamDecoder, QwenEmojiSequence) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  // The fixture's "👍🏽 family 👨‍👩‍👧": several emoji are spread over two tokens.
  std::string text = "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
  auto ids = tok.encode(text);
  auto chunks = stream(tok, ids);
  EXPECT_EQ(join(chunks), text);
  // Every prefix of the stream is a prefix of the text: nothing partial or replaced is shown.
  bool held = false;
  std::string shown;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    held |= chunks[i].empty();
    shown += chunks[i];
    EXPECT_EQ(text.compare(0, shown.size(), shown), 0) << "after token " << i;
  }
  EXPECT_TRUE(held) << "no token of the emoji text was a partial character";
}

TEST(StreamDecoder, SkipsControlTokensAndUnknownIds) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  auto ids = tok.encode("hi<|im_end|>");
  ids.push_back(tok.size() + 5);  // a padded embedding row past the tokenizer
  EXPECT_EQ(join(stream(tok, ids, /*skip_special=*/true)), "hi");
  ids.pop_back();
  EXPECT_EQ(join(stream(tok, ids, /*skip_special=*/false)), "hi<|im_end|>");
}

}  // namespace
}  // namespace aprc
