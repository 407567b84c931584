#include "utf8.h"

namespace aprc::tokenizer_detail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The valid range of the second byte of a sequence led by `lead` (later bytes are 80..BF), and the
// sequence length; length 0 for a byte that cannot lead.
struct Lead {
  int length;
  unsigned char lo, hi;
};

Lead lead_of(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing past U+10FFFF
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  return {0, 0, 0};
}

enum class Step { Char, Invalid, Incomplete };

// Looks at the sequence starting at s[i]: a whole character (n = its length), an invalid maximal
// subpart (n = bytes to replace by one U+FFFD), or a valid prefix cut by the end of `s`.
Step step(std::string_view s, size_t i, size_t& n) {
  auto b0 = static_cast<unsigned char>(s[i]);
  Lead lead = lead_of(b0);
  if (lead.length == 1) return n = 1, Step::Char;
  if (lead.length == 0) return n = 1, Step::Invalid;
  for (int k = 1; k < lead.length; ++k) {
    if (i + k >= s.size()) return n = k, Step::Incomplete;
    auto b = static_cast<unsigned char>(s[i + k]);
    unsigned char lo = k == 1 ? lead.lo : 0x80, hi = k == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) return n = k, Step::Invalid;
  }
  return n = lead.length, Step::Char;
}

}  // namespace

std::string utf8_encode(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

size_t utf8_decode_one(std::string_view s, char32_t& cp) {
  if (s.empty()) return 0;
  size_t n = 0;
  if (step(s, 0, n) != Step::Char) return 0;
  auto b0 = static_cast<unsigned char>(s[0]);
  static constexpr unsigned char kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  cp = b0 & kLeadMask[n];
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  return n;
}

std::optional<size_t> utf8_first_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    if (step(s, i, n) != Step::Char) return i;
    i += n;
  }
  return std::nullopt;
}

size_t utf8_append_lossy(std::string_view s, std::string& out, bool final_chunk) {
  size_t i = 0, run = 0;  // s[run, i) is valid and not yet copied
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    Step st = step(s, i, n);
    if (st == Step::Char) {
      i += n;
      continue;
    }
    out.append(s.substr(run, i - run));
    if (st == Step::Incomplete && !final_chunk) return i;
    out += kReplacement;
    i += n;
    run = i;
  }
  out.append(s.substr(run, i - run));
  return i;
}

}  // namespace aprc::tokenizer_detail
