// The pre-tokenizer: splits text into the pieces that BPE merges within, by the regex of the
// tokenizer (Hugging Face "Split" with behaviour "Isolated": every match is a piece, and so is any
// text between matches). Hugging Face compiles the regex with Oniguruma; aprc compiles it with
// PCRE2 (UTF + UCP, JIT) after rewriting the escapes on which the two engines disagree.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace aprc::tokenizer_detail {

// Rewrites an Oniguruma (Ruby syntax) pattern as PCRE2 would need it to mean the same:
//   \s \S      -> \p{White_Space} \P{White_Space}   (PCRE2's UCP \s also takes U+180E)
//   \w \W      -> letters, marks, decimal digits and connector punctuation   (PCRE2 omits marks)
//   \h \H      -> hexadecimal digits                 (in PCRE2 \h is horizontal space)
//   \uHHHH     -> \x{HHHH}                           (PCRE2 has no \u)
//   \p{Letter} -> \p{L}, and the other long general-category names (PCRE2 knows only short ones)
// The rest (classes, \p{L} \p{N}, (?i:...), lookahead, quantifiers) means the same in both.
// Throws Error(BadInput) naming `source` for an escape it cannot express (\W inside a class).
std::string onig_to_pcre2(std::string_view pattern, const std::string& source);

// The split regex of a pre-tokenizer named as GGUF's tokenizer.ggml.pre names it ("qwen2"), in
// tokenizer.json's (Oniguruma) syntax; empty when aprc does not know the name.
std::string known_pre_tokenizer_regex(std::string_view pre);

class SplitRegex {
 public:
  // `pattern` in Oniguruma syntax. Throws Error(BadInput) naming `source` when it does not compile.
  SplitRegex(std::string_view pattern, const std::string& source);
  ~SplitRegex();
  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;

  // Calls `piece` for each piece of `text` (valid UTF-8), in order, covering it entirely.
  void split(std::string_view text, const std::function<void(std::string_view)>& piece) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aprc::tokenizer_detail
