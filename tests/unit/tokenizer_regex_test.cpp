// The pre-tokenizer regex: each construct of Qwen2's pattern, and each escape on which Oniguruma
// (what Hugging Face compiles tokenizer.json's regex with) and PCRE2 disagree.
#include <gtest/gtest.h>

#include <random>

#include "aprc/error.h"
#include "split_regex.h"
#include "tokenizer_test_util.h"

namespace aprc::tokenizer_detail {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(const SplitRegex& re, std::string_view text) {
  Pieces pieces;
  re.split(text, [&](std::string_view p) { pieces.emplace_back(p); });
  return pieces;
}

const SplitRegex& qwen2() {
  static const SplitRegex re(known_pre_tokenizer_regex("qwen2"), "test");
  return re;
}

TEST(Qwen2Split, Contractions) {
  EXPECT_EQ(split(qwen2(), "I'm you'll they've"), (Pieces{"I", "'m", " you", "'ll", " they", "'ve"}));
  // (?i:...) makes the contractions case-insensitive, with Unicode case folding (ſ folds to s).
  EXPECT_EQ(split(qwen2(), "IT'S WE'LL"), (Pieces{"IT", "'S", " WE", "'LL"}));
  EXPECT_EQ(split(qwen2(), "x'\xC5\xBF\xC5\xBF"), (Pieces{"x", "'\xC5\xBF", "\xC5\xBF"}));
}

TEST(Qwen2Split, LettersTakeOneLeadingNonLetter) {
  EXPECT_EQ(split(qwen2(), "Hello, world!"), (Pieces{"Hello", ",", " world", "!"}));
  EXPECT_EQ(split(qwen2(), "$git\tdef"), (Pieces{"$git", "\tdef"}));
  EXPECT_EQ(split(qwen2(), "日本語のテキスト"), (Pieces{"日本語のテキスト"}));
}

TEST(Qwen2Split, DigitsOneByOne) {
  EXPECT_EQ(split(qwen2(), "x=1234"), (Pieces{"x", "=", "1", "2", "3", "4"}));
  EXPECT_EQ(split(qwen2(), "\xD9\xA3\xD9\xA4"), (Pieces{"\xD9\xA3", "\xD9\xA4"}));  // Arabic-Indic digits are \p{N}
}

TEST(Qwen2Split, PunctuationRunsKeepTrailingNewlines) {
  EXPECT_EQ(split(qwen2(), "a += b;\n\nc"), (Pieces{"a", " +=", " b", ";\n\n", "c"}));
}

TEST(Qwen2Split, WhitespaceRuns) {
  // \s+(?!\S): the last space of a run goes with the word after it.
  EXPECT_EQ(split(qwen2(), "a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split(qwen2(), "a  \n\n  b  "), (Pieces{"a", "  \n\n", " ", " b", "  "}));
  EXPECT_EQ(split(qwen2(), "\r\n"), (Pieces{"\r\n"}));
}

TEST(Qwen2Split, WhitespaceIsUnicodeWhiteSpaceNotPcre2Space) {
  // U+180E (Mongolian vowel separator) is not White_Space (Unicode 6.3 on), which Oniguruma
  // follows; PCRE2's own \s still takes it, which would split "\u180E!" as "\u180E" + "!".
  EXPECT_EQ(split(qwen2(), "a \xE1\xA0\x8E" "b"), (Pieces{"a", " \xE1\xA0\x8E", "b"}));
  EXPECT_EQ(split(qwen2(), "x\xE1\xA0\x8E!"), (Pieces{"x", "\xE1\xA0\x8E!"}));
  // U+00A0 and U+3000 are White_Space.
  EXPECT_EQ(split(qwen2(), "a\xC2\xA0\xC2\xA0" "b"), (Pieces{"a", "\xC2\xA0", "\xC2\xA0" "b"}));
  EXPECT_EQ(split(qwen2(), "\xE3\x80\x80"), (Pieces{"\xE3\x80\x80"}));
}

TEST(Qwen2Split, IsTheRegexOfQwensTokenizerJson) {
  APRC_REQUIRE_FIXTURE("qwen-tokenizer/tokenizer.json");
  auto d = load_tokenizer_json(test::fixtures_dir() + "/qwen-tokenizer/tokenizer.json");
  EXPECT_EQ(d.pre_regex, known_pre_tokenizer_regex("qwen2"));
  EXPECT_EQ(known_pre_tokenizer_regex("deepseek-r1-qwen"), known_pre_tokenizer_regex("qwen2"));
  EXPECT_EQ(known_pre_tokenizer_regex("no-such-tokenizer"), "");
}

TEST(Qwen2Split, PiecesCoverRandomText) {
  const char* alphabet[] = {"a", "Z", "7", " ", "\n", "\r", "\t", "'", "s", "!", "\xC3\xA9", "\xE6\x97\xA5",
                            "\xF0\x9F\x99\x82", "\xCC\x81", "\xC2\xA0", "\xE1\xA0\x8E", "\xD9\xA3", "_"};
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) text += alphabet[rng() % std::size(alphabet)];
    std::string joined;
    for (const std::string& p : split(qwen2(), text)) {
      EXPECT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(Gpt2Split, ByteLevelDefault) {
  SplitRegex gpt2(known_pre_tokenizer_regex("gpt2"), "test");
  EXPECT_EQ(split(gpt2, "Hello world's 123!!  x"), (Pieces{"Hello", " world", "'s", " 123", "!!", " ", " x"}));
}

TEST(OnigToPcre2, RewritesTheEscapesThatDiffer) {
  EXPECT_EQ(onig_to_pcre2(R"(\s+(?!\S))", "t"), R"(\p{White_Space}+(?!\P{White_Space}))");
  EXPECT_EQ(onig_to_pcre2(R"([^\s\p{L}])", "t"), R"([^\p{White_Space}\p{L}])");
  EXPECT_EQ(onig_to_pcre2(R"(\p{Letter}\P{Number}\p{^Mark})", "t"), R"(\p{L}\P{N}\p{^M})");
  EXPECT_EQ(onig_to_pcre2(R"(\u00e9\x{41}\d\\s)", "t"), R"(\x{00e9}\x{41}\d\\s)");
  EXPECT_EQ(onig_to_pcre2(R"([]\s])", "t"), R"([]\p{White_Space}])");
}

TEST(OnigToPcre2, WordAndHexEscapesMeanWhatOnigurumaMeans) {
  // \w takes combining marks (PCRE2 10.42's own \w does not).
  SplitRegex word(R"(\w+)", "t");
  EXPECT_EQ(split(word, "e\xCC\x81x_1 y"), (Pieces{"e\xCC\x81x_1", " ", "y"}));
  // \h is a hexadecimal digit in Oniguruma, horizontal space in PCRE2.
  SplitRegex hex(R"(\h+)", "t");
  EXPECT_EQ(split(hex, "ff zz"), (Pieces{"ff", " zz"}));
  SplitRegex letter(R"(\p{Letter}+|\u0031)", "t");
  EXPECT_EQ(split(letter, "ab12"), (Pieces{"ab", "1", "2"}));
}

TEST(OnigToPcre2, RefusesWhatPcre2CannotSay) {
  EXPECT_THROW(onig_to_pcre2("[a[b]]", "t"), Error);
  EXPECT_THROW(onig_to_pcre2("[a-z&&[^aeiou]]", "t"), Error);
  EXPECT_THROW(onig_to_pcre2("[\\W]", "t"), Error);
  try {
    SplitRegex bad("(unclosed", "model.gguf");
    FAIL() << "compiled a bad regex";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("model.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc::tokenizer_detail
