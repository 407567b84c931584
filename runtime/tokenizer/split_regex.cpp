#include "split_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <map>
#include <new>

#include "aprc/error.h"

namespace aprc::tokenizer_detail {
namespace {

// Onig's \w: Letter | Mark | Decimal_Number | Connector_Punctuation.
constexpr std::string_view kWordClassBody = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

std::string loose(std::string_view name) {
  std::string out;
  for (char c : name)
    if (c != '_' && c != ' ' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Property names Oniguruma accepts and PCRE2 does not: long general-category names and a few
// POSIX-style aliases. PCRE2 matches the others (short categories, scripts, binary properties)
// loosely itself.
const std::map<std::string, std::string>& property_aliases() {
  static const std::map<std::string, std::string> m = [] {
    const std::pair<const char*, const char*> pairs[] = {
        {"Letter", "L"}, {"Cased_Letter", "L&"}, {"Uppercase_Letter", "Lu"}, {"Lowercase_Letter", "Ll"},
        {"Titlecase_Letter", "Lt"}, {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"},
        {"Mark", "M"}, {"Combining_Mark", "M"}, {"Nonspacing_Mark", "Mn"}, {"Spacing_Mark", "Mc"},
        {"Enclosing_Mark", "Me"}, {"Number", "N"}, {"Decimal_Number", "Nd"}, {"Letter_Number", "Nl"},
        {"Other_Number", "No"}, {"Punctuation", "P"}, {"Connector_Punctuation", "Pc"},
        {"Dash_Punctuation", "Pd"}, {"Open_Punctuation", "Ps"}, {"Close_Punctuation", "Pe"},
        {"Initial_Punctuation", "Pi"}, {"Final_Punctuation", "Pf"}, {"Other_Punctuation", "Po"},
        {"Symbol", "S"}, {"Math_Symbol", "Sm"}, {"Currency_Symbol", "Sc"}, {"Modifier_Symbol", "Sk"},
        {"Other_Symbol", "So"}, {"Separator", "Z"}, {"Space_Separator", "Zs"}, {"Line_Separator", "Zl"},
        {"Paragraph_Separator", "Zp"}, {"Other", "C"}, {"Control", "Cc"}, {"Format", "Cf"},
        {"Surrogate", "Cs"}, {"Private_Use", "Co"}, {"Unassigned", "Cn"},
        {"Digit", "Nd"}, {"Space", "White_Space"}, {"Alpha", "Alphabetic"}, {"Upper", "Uppercase"},
        {"Lower", "Lowercase"}, {"Punct", "P"}, {"Cntrl", "Cc"},
    };
    std::map<std::string, std::string> out;
    for (auto [from, to] : pairs) out[loose(from)] = to;
    return out;
  }();
  return m;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::string onig_to_pcre2(std::string_view p, const std::string& source) {
  auto unsupported = [&](const std::string& what) {
    throw_bad_input(source + ": pre-tokenizer regex: " + what + " has no PCRE2 equivalent: " + std::string(p));
  };
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // a literal ']' first in a class
      continue;
    }
    if (in_class && c == '[') {
      if (i + 1 < p.size() && p[i + 1] == ':') {  // a POSIX class [:alpha:]: copy it whole
        size_t end = p.find(":]", i + 2);
        if (end == std::string_view::npos) unsupported("an unterminated [: class");
        out.append(p.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
      unsupported("a nested character class");
    }
    if (in_class && c == '&' && i + 1 < p.size() && p[i + 1] == '&') unsupported("class intersection (&&)");
    if (in_class && c == ']') {
      in_class = false;
      out += c;
      continue;
    }
    if (c != '\\' || i + 1 >= p.size()) {
      out += c;
      continue;
    }
    char e = p[++i];
    switch (e) {
      case 's': out += "\\p{White_Space}"; break;
      case 'S': out += "\\P{White_Space}"; break;
      case 'w':
        out += in_class ? std::string(kWordClassBody) : "[" + std::string(kWordClassBody) + "]";
        break;
      case 'W':
        if (in_class) unsupported("\\W inside a character class");
        out += "[^" + std::string(kWordClassBody) + "]";
        break;
      case 'h': out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]"; break;
      case 'H':
        if (in_class) unsupported("\\H inside a character class");
        out += "[^0-9a-fA-F]";
        break;
      case 'u':
        if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4])) {
          out += "\\x{" + std::string(p.substr(i + 1, 4)) + "}";
          i += 4;
        } else {
          unsupported("\\u without four hex digits");
        }
        break;
      case 'p':
      case 'P': {
        out += '\\';
        out += e;
        if (i + 1 < p.size() && p[i + 1] == '{') {
          size_t end = p.find('}', i + 2);
          if (end == std::string_view::npos) unsupported("an unterminated \\p{");
          std::string_view name = p.substr(i + 2, end - i - 2);
          std::string neg;
          if (!name.empty() && name[0] == '^') neg = "^", name.remove_prefix(1);
          auto it = property_aliases().find(loose(name));
          out += "{" + neg + (it != property_aliases().end() ? it->second : std::string(name)) + "}";
          i = end;
        }
        break;
      }
      default:
        out += '\\';
        out += e;
    }
  }
  return out;
}

std::string known_pre_tokenizer_regex(std::string_view pre) {
  // Qwen2's tokenizer.json: contractions, letters with at most one leading non-letter, single
  // digits, punctuation runs with one leading space, newline runs, and spaces (the last space of
  // a run goes with the word after it).
  static const char* const kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  // GPT-2's: what Hugging Face's ByteLevel pre-tokenizer splits by when tokenizer.json gives no regex.
  static const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  // llama.cpp's names for tokenizers that split as Qwen2 does.
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez") return kQwen2;
  if (pre == "gpt2") return kGpt2;
  return {};
}

struct SplitRegex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() { pcre2_code_free(code); }
};

SplitRegex::SplitRegex(std::string_view pattern, const std::string& source) : impl_(std::make_unique<Impl>()) {
  std::string translated = onig_to_pcre2(pattern, source);
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw_bad_input(source + ": pre-tokenizer regex does not compile (" + reinterpret_cast<const char*>(msg) +
                    " at offset " + std::to_string(offset) + "): " + translated);
  }
  // JIT makes splitting several times faster; without it (an unsupported CPU) the interpreter runs.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

SplitRegex::~SplitRegex() = default;
SplitRegex::SplitRegex(SplitRegex&&) noexcept = default;
SplitRegex& SplitRegex::operator=(SplitRegex&&) noexcept = default;

void SplitRegex::split(std::string_view text, const std::function<void(std::string_view)>& piece) const {
  if (text.empty()) return;
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), pcre2_match_data_free);
  if (!md) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;  // text[0, pos) is already in pieces
  size_t search = 0;
  while (search < text.size()) {
    // The text was checked to be valid UTF-8 once; checking it again on every call is quadratic.
    int rc = pcre2_match(impl_->code, subject, text.size(), search, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw_internal(std::string("pre-tokenizer regex failed: ") + reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // an empty match splits nothing: look again one character later
      search = begin + 1;
      while (search < text.size() && (static_cast<unsigned char>(text[search]) & 0xC0) == 0x80) ++search;
      continue;
    }
    if (begin > pos) piece(text.substr(pos, begin - pos));
    piece(text.substr(begin, end - begin));
    pos = search = end;
  }
  if (pos < text.size()) piece(text.substr(pos));
}

}  // namespace aprc::tokenizer_detail
