#include "aprc/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "aprc/error.h"
#include "bpe.h"
#include "byte_level.h"
#include "split_regex.h"
#include "utf8.h"

namespace aprc {

using namespace tokenizer_detail;

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Pieces up to this length are remembered with their tokens (a text repeats its words); the cache
// is emptied when it grows past kCacheEntries so that memory stays bounded on endless input.
constexpr size_t kCacheMaxPiece = 64;
constexpr size_t kCacheEntries = 1 << 16;

bool looks_like_control(std::string_view t) {
  return t.size() > 4 && t.substr(0, 2) == "<|" && t.substr(t.size() - 2) == "|>";
}

std::string nfc_utf8proc(std::string_view s) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &out,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw_internal(std::string("NFC normalization failed: ") + utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

// NFC of valid UTF-8, normalizing only where it can change anything. Code points below U+0300 are
// NFC and never combine with what precedes them, and no UTF-8 byte of theirs is 0xCC or above; and
// an ASCII character is a starter that nothing before it composes with. So the text is cut before
// ASCII characters, and only a run of non-ASCII characters holding a byte >= 0xCC is normalized,
// together with the ASCII character before it (which a combining mark may compose with: e + U+0301).
// Returns false (and leaves `out` alone) when the text is NFC already.
bool nfc(std::string_view s, std::string& out) {
  size_t copied = 0, i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t run = i;
    bool may_change = false;
    for (; i < s.size() && static_cast<unsigned char>(s[i]) >= 0x80; ++i)
      may_change |= static_cast<unsigned char>(s[i]) >= 0xCC;
    if (!may_change) continue;
    if (copied == 0 && out.empty()) out.reserve(s.size() + 16);
    size_t begin = run > copied ? run - 1 : run;
    out.append(s.substr(copied, begin - copied));
    out += nfc_utf8proc(s.substr(begin, i - begin));
    copied = i;
  }
  if (copied == 0) return false;
  out.append(s.substr(copied));
  return true;
}

}  // namespace

struct Tokenizer::Impl {
  TokenizerData data;
  std::string source;
  StringMap<int32_t> vocab;            // token text -> id (the first id when a text repeats)
  std::vector<std::string> bytes;      // id -> the bytes it decodes to
  std::vector<TokenType> types;        // id -> type (control tokens detected when the file has none)
  std::array<int32_t, 256> byte_token{};  // byte -> the id of its single-byte token
  MergeTable merges;
  std::unique_ptr<SplitRegex> regex;

  struct Added {
    std::string text;
    int32_t id;
    bool control;
  };
  std::vector<Added> added;                               // longest first
  std::array<std::vector<int32_t>, 256> added_by_first;   // first byte -> indices into `added`
  std::vector<int32_t> stops;

  mutable std::mutex cache_mutex;
  mutable StringMap<std::vector<int32_t>> cache;

  [[noreturn]] void bad(const std::string& what) const { throw_bad_input(source + ": tokenizer: " + what); }
  void build_vocab();
  void build_merges();
  void build_added();
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
};

void Tokenizer::Impl::build_vocab() {
  const auto& tokens = data.tokens;
  if (tokens.empty()) bad("the vocabulary is empty");
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) bad("the vocabulary has too many tokens");
  if (!data.token_types.empty() && data.token_types.size() != tokens.size())
    bad(std::to_string(data.token_types.size()) + " token types for " + std::to_string(tokens.size()) + " tokens");
  types = data.token_types;
  if (types.empty()) types.assign(tokens.size(), TokenType::Normal);
  // A file without control/user-defined types (older exports) still has Qwen's <|...|> markers.
  bool any_added = std::any_of(types.begin(), types.end(),
                               [](TokenType t) { return t == TokenType::Control || t == TokenType::UserDefined; });
  if (!any_added)
    for (size_t i = 0; i < tokens.size(); ++i)
      if (looks_like_control(tokens[i])) types[i] = TokenType::Control;

  vocab.reserve(tokens.size());
  bytes.resize(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab.emplace(tokens[i], static_cast<int32_t>(i));
    switch (types[i]) {
      case TokenType::Control:
      case TokenType::UserDefined:
        bytes[i] = tokens[i];  // added tokens are plain text
        break;
      case TokenType::Unused:
        break;  // padding rows past the real vocabulary decode to nothing
      default:
        // As Hugging Face's ByteLevel decoder: a token that is not all byte-level characters
        // stands for its own UTF-8.
        bytes[i] = byte_level_decode(tokens[i]).value_or(tokens[i]);
    }
  }
  for (int b = 0; b < 256; ++b) {
    std::string_view ch = byte_level_char(static_cast<uint8_t>(b));
    auto it = vocab.find(ch);
    if (it == vocab.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      bad("the vocabulary has no token for byte " + std::string(hex) + " ('" + std::string(ch) +
          "'): not a byte-level BPE vocabulary");
    }
    byte_token[b] = it->second;
  }
}

void Tokenizer::Impl::build_merges() {
  merges.reserve(data.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < data.merges.size(); ++rank) {
    const std::string& m = data.merges[rank];
    size_t space = m.find(' ', 1);  // from 1: a token may itself be a space in non-byte-level files
    if (space == std::string::npos || space + 1 >= m.size())
      bad("merge " + std::to_string(rank) + " '" + m + "' is not two tokens separated by a space");
    std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
    joined.assign(left);
    joined += right;
    auto l = vocab.find(left), r = vocab.find(right), j = vocab.find(joined);
    for (auto [it, name] : {std::pair{l, left}, std::pair{r, right}, std::pair{j, std::string_view(joined)}})
      if (it == vocab.end())
        bad("merge " + std::to_string(rank) + " '" + m + "': '" + std::string(name) + "' is not in the vocabulary");
    merges.insert(l->second, r->second, Merge{static_cast<int32_t>(rank), j->second});
  }
}

void Tokenizer::Impl::build_added() {
  for (size_t i = 0; i < data.tokens.size(); ++i) {
    bool control = types[i] == TokenType::Control;
    if ((control || types[i] == TokenType::UserDefined) && !data.tokens[i].empty())
      added.push_back({data.tokens[i], static_cast<int32_t>(i), control});
  }
  // Longest first, so that the first candidate that matches at a position is the longest match.
  std::stable_sort(added.begin(), added.end(), [](const Added& a, const Added& b) { return a.text.size() > b.text.size(); });
  for (size_t k = 0; k < added.size(); ++k)
    added_by_first[static_cast<unsigned char>(added[k].text[0])].push_back(static_cast<int32_t>(k));

  auto add_stop = [&](int64_t id) {
    if (id >= 0 && id < static_cast<int64_t>(data.tokens.size()) &&
        std::find(stops.begin(), stops.end(), id) == stops.end())
      stops.push_back(static_cast<int32_t>(id));
  };
  add_stop(data.eos_id);
  for (const char* name : {"<|im_end|>", "<|endoftext|>"})
    if (auto it = vocab.find(std::string_view(name)); it != vocab.end()) add_stop(it->second);
}

void Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  const bool cacheable = piece.size() <= kCacheMaxPiece;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(piece); it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) ids[i] = byte_token[static_cast<unsigned char>(piece[i])];
  bpe_merge(merges, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kCacheEntries) cache.clear();
    cache.emplace(std::string(piece), std::move(ids));
  }
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  if (nfc(text, normalized)) text = normalized;
  regex->split(text, [&](std::string_view piece) { encode_piece(piece, out); });
}

Tokenizer::Tokenizer(const TokenizerData& data, std::string source) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.data = data;
  m.source = std::move(source);
  std::string model = data.model;
  std::transform(model.begin(), model.end(), model.begin(), [](unsigned char c) { return std::tolower(c); });
  if (model != "gpt2" && model != "bpe")
    m.bad("model '" + data.model + "' is not supported (aprc reads byte-level BPE, 'gpt2')");
  std::string pattern = data.pre_regex.empty() ? known_pre_tokenizer_regex(data.pre) : data.pre_regex;
  if (pattern.empty())
    m.bad("unknown pre-tokenizer '" + data.pre + "' (aprc knows qwen2, deepseek-r1-qwen, megrez and gpt2; "
          "a tokenizer.json carries its own regex)");
  m.regex = std::make_unique<SplitRegex>(pattern, m.source);
  m.build_vocab();
  m.build_merges();
  m.build_added();
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  const Impl& m = *impl_;
  if (auto bad_at = utf8_first_invalid(text))
    throw_bad_input("tokenize: the text is not valid UTF-8 (byte " + std::to_string(*bad_at) + ")");
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  size_t start = 0;  // text[start, i) is ordinary text not yet encoded
  for (size_t i = 0; i < text.size();) {
    const auto& candidates = m.added_by_first[static_cast<unsigned char>(text[i])];
    const Impl::Added* hit = nullptr;
    for (int32_t k : candidates) {
      const Impl::Added& a = m.added[k];
      if ((parse_special || !a.control) && text.substr(i, a.text.size()) == a.text) {
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    m.encode_text(text.substr(start, i - start), out);
    out.push_back(hit->id);
    i += hit->text.size();
    start = i;
  }
  m.encode_text(text.substr(start), out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string raw;
  for (int32_t id : ids) {
    if (id < 0 || id >= size())
      throw_bad_input("token id " + std::to_string(id) + " is out of range: the tokenizer has " +
                      std::to_string(size()) + " tokens (0.." + std::to_string(size() - 1) + ")");
    if (skip_special && is_control(id)) continue;
    raw += impl_->bytes[id];
  }
  std::string text;
  utf8_append_lossy(raw, text, /*final_chunk=*/true);
  return text;
}

const std::string& Tokenizer::token_bytes(int32_t id) const { return impl_->bytes.at(id); }
const std::string& Tokenizer::token_text(int32_t id) const { return impl_->data.tokens.at(id); }

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  auto it = impl_->vocab.find(text);
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::size() const { return static_cast<int32_t>(impl_->bytes.size()); }

bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < size() && impl_->types[id] == TokenType::Control;
}

bool Tokenizer::is_stop(int32_t id) const {
  return std::find(impl_->stops.begin(), impl_->stops.end(), id) != impl_->stops.end();
}

const std::vector<int32_t>& Tokenizer::stop_ids() const { return impl_->stops; }
const TokenizerData& Tokenizer::data() const { return impl_->data; }

}  // namespace aprc
