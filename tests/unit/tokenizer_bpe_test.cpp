// Byte-level BPE on synthetic vocabularies, against a plain quadratic reference written here:
// merge the adjacent pair of lowest rank (leftmost among equals) until none has a merge.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>

#include <map>
#include <random>
#include <set>

#include "aprc/error.h"
#include "tokenizer_test_util.h"

namespace aprc {
namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;

// The reference: tokens as byte strings; returns the ids of the synthetic vocabulary
// (id = byte for single bytes, 256 + merge index for merged tokens).
std::vector<int32_t> reference_bpe(const std::string& text, const Merges& merges) {
  std::map<std::pair<std::string, std::string>, int> rank;
  std::map<std::string, int32_t> id;
  for (int b = 0; b < 256; ++b) id[std::string(1, static_cast<char>(b))] = b;
  for (size_t r = 0; r < merges.size(); ++r) {
    rank.emplace(merges[r], static_cast<int>(r));
    id.emplace(merges[r].first + merges[r].second, static_cast<int32_t>(256 + r));
  }
  std::vector<std::string> sym;
  for (char c : text) sym.emplace_back(1, c);
  for (;;) {
    int best = -1, best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = rank.find({sym[i], sym[i + 1]});
      if (it != rank.end() && it->second < best_rank) best = static_cast<int>(i), best_rank = it->second;
    }
    if (best < 0) break;
    sym[best] += sym[best + 1];
    sym.erase(sym.begin() + best + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& s : sym) ids.push_back(id.at(s));
  return ids;
}

TEST(Bpe, MergesByRankLeftmostFirst) {
  Merges merges = {{"a", "a"}, {"b", "c"}, {"aa", "a"}, {"a", "bc"}};
  Tokenizer tok(test::synthetic_tokenizer(merges));
  // "aaa": (a,a) at 0 first, then (aa,a).   "abc": (b,c) before (a,bc).
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{258}));
  EXPECT_EQ(tok.encode("aaaa"), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{259}));
  EXPECT_EQ(tok.encode("xbc"), (std::vector<int32_t>{'x', 257}));
}

TEST(Bpe, MatchesTheReferenceOnRandomVocabulariesAndTexts) {
  std::mt19937 rng(12345);
  const std::string alphabet = "abcd \xC3\xA9";
  for (int vocab_round = 0; vocab_round < 20; ++vocab_round) {
    // Random merges over tokens that exist at the time of the merge.
    std::vector<std::string> known;
    for (char c : alphabet) known.emplace_back(1, c);
    std::set<std::string> made(known.begin(), known.end());
    Merges merges;
    while (merges.size() < 40) {
      const std::string& l = known[rng() % known.size()];
      const std::string& r = known[rng() % known.size()];
      if (made.count(l + r)) continue;
      merges.push_back({l, r});
      made.insert(l + r);
      known.push_back(l + r);
    }
    Tokenizer tok(test::synthetic_tokenizer(merges));
    for (int text_round = 0; text_round < 50; ++text_round) {
      std::string text;
      size_t n = 1 + rng() % 61;
      while (text.size() < n) {
        char c = alphabet[rng() % 5];  // the ASCII part, plus é as a whole now and then
        if (rng() % 7 == 0) text += "\xC3\xA9";
        else text += c;
      }
      auto ids = tok.encode(text);
      ASSERT_EQ(ids, reference_bpe(text, merges)) << "text '" << text << "' vocabulary " << vocab_round;
      EXPECT_EQ(tok.decode(ids), text);
      EXPECT_EQ(tok.encode(text), ids);  // the second time from the cache
    }
  }
}

TEST(Bpe, LongRunsOfOneCharacter) {
  Merges merges = {{"x", "x"}, {"xx", "xx"}, {"xxxx", "xxxx"}};
  Tokenizer tok(test::synthetic_tokenizer(merges));
  for (size_t n : {1u, 7u, 8u, 100u, 1001u, 20000u}) {
    std::string text(n, 'x');
    auto ids = tok.encode(text);
    ASSERT_EQ(ids.size(), n / 8 + (n % 8) / 4 + (n % 4) / 2 + n % 2) << n;
    EXPECT_EQ(tok.decode(ids), text);
  }
}

TEST(Bpe, EveryByteRoundTrips) {
  Tokenizer tok(test::synthetic_tokenizer({}));
  std::string all;
  for (int b = 0; b < 256; ++b) EXPECT_EQ(tok.token_bytes(b), std::string(1, static_cast<char>(b))) << b;
  for (int b = 0; b < 128; ++b) all += static_cast<char>(b);
  EXPECT_EQ(tok.decode(tok.encode(all)), all);
  EXPECT_EQ(tok.token_text(' '), "\xC4\xA0");  // 'Ġ'
  EXPECT_EQ(tok.token_text('\n'), "\xC4\x8A");  // 'Ċ'
}

TEST(Normalization, IsNfcOfTheWholeText) {
  // Decoding a byte-token encoding gives back the normalized text; the reference normalizes the
  // whole string at once with utf8proc, while the tokenizer normalizes only the runs that need it.
  Tokenizer tok(test::synthetic_tokenizer({}));
  const char* parts[] = {"a", "e", " ", "\n", "\xCC\x81", "\xCC\xA3", "\xCC\x87", "\xC3\xA9", "\xE1\x84\x92",
                         "\xE1\x85\xA1", "\xE1\x86\xAB", "\xED\x95\x9C", "\xE2\x84\xAB", "\xEF\xAC\x81",
                         "\xE6\x97\xA5", "\xF0\x9F\x99\x82", "\xD9\x8E", "\xC2\xA0", "\xE0\xA4\xB7\xE0\xA4\xBC"};
  std::mt19937 rng(3);
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    for (int i = 0, n = 1 + static_cast<int>(rng() % 16); i < n; ++i) text += parts[rng() % std::size(parts)];
    char* ref = reinterpret_cast<char*>(utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str())));
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ(tok.decode(tok.encode(text)), std::string(ref)) << text;
    std::free(ref);
  }
}

TEST(AddedTokens, LeftmostLongestMatchBeforeBpe) {
  Merges merges = {{"a", "b"}};
  Tokenizer tok(test::synthetic_tokenizer(
      merges, {{"<|x|>", TokenType::Control}, {"<|x|>y", TokenType::Control}, {"<u>", TokenType::UserDefined}}));
  const int32_t x = 257, xy = 258, u = 259;
  EXPECT_EQ(tok.encode("ab<|x|>yab"), (std::vector<int32_t>{256, xy, 256}));
  EXPECT_EQ(tok.encode("<|x|>ab"), (std::vector<int32_t>{x, 256}));
  EXPECT_EQ(tok.encode("a<u>b"), (std::vector<int32_t>{'a', u, 'b'}));
  // Control tokens stay text when not allowed; user-defined ones are still matched.
  auto plain = tok.encode("<|x|><u>", false);
  EXPECT_EQ(plain.back(), u);
  EXPECT_EQ(plain.size(), 6u);
  EXPECT_EQ(tok.decode(plain), "<|x|><u>");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{x, 'a', u}, /*skip_special=*/true), "a<u>");
}

TEST(AddedTokens, ControlMarkersFoundWhenTheFileHasNoTypes) {
  TokenizerData d = test::synthetic_tokenizer({}, {{"<|im_end|>", TokenType::Normal}});
  d.token_types.clear();
  Tokenizer tok(d);
  EXPECT_EQ(tok.encode("a<|im_end|>"), (std::vector<int32_t>{'a', 256}));
  EXPECT_TRUE(tok.is_control(256));
  EXPECT_TRUE(tok.is_stop(256));
}

TEST(TokenizerData, BadDataIsBadInput) {
  auto expect_bad = [](TokenizerData d, const char* needle) {
    try {
      Tokenizer t(d, "m.gguf");
      ADD_FAILURE() << "accepted data that should fail with '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("m.gguf: ", 0), 0u) << e.what();
    }
  };
  TokenizerData good = test::synthetic_tokenizer({{"a", "b"}});
  { auto d = good; d.merges.push_back("ab zz"); expect_bad(d, "'zz' is not in the vocabulary"); }
  { auto d = good; d.merges.push_back("abc"); expect_bad(d, "not two tokens"); }
  { auto d = good; d.tokens.erase(d.tokens.begin()); d.token_types.pop_back(); expect_bad(d, "byte 0x00"); }
  { auto d = good; d.token_types.pop_back(); expect_bad(d, "token types"); }
  { auto d = good; d.model = "llama"; expect_bad(d, "model 'llama'"); }
  { auto d = good; d.pre_regex.clear(); d.pre = "tekken"; expect_bad(d, "pre-tokenizer 'tekken'"); }
  { auto d = good; d.pre_regex = "(x"; expect_bad(d, "does not compile"); }
  { TokenizerData d; expect_bad(d, "empty"); }
}

}  // namespace
}  // namespace aprc
