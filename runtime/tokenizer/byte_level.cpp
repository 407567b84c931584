#include "byte_level.h"

#include <array>

#include "utf8.h"

namespace aprc::tokenizer_detail {
namespace {

bool stands_for_itself(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<std::string, 256> char_of_byte;  // UTF-8 of each byte's character
  std::array<int16_t, 0x144> byte_of_char;    // code point -> byte, -1 if none (all are < U+0144)
  Tables() {
    byte_of_char.fill(-1);
    unsigned next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      unsigned cp = stands_for_itself(b) ? b : next++;
      char_of_byte[b] = utf8_encode(cp);
      byte_of_char[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view byte_level_char(uint8_t byte) { return tables().char_of_byte[byte]; }

void byte_level_encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (unsigned char b : bytes) out += t.char_of_byte[b];
}

std::optional<std::string> byte_level_decode(std::string_view text) {
  const Tables& t = tables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    size_t n = utf8_decode_one(text.substr(i), cp);
    if (n == 0 || cp >= t.byte_of_char.size() || t.byte_of_char[cp] < 0) return std::nullopt;
    out += static_cast<char>(t.byte_of_char[cp]);
    i += n;
  }
  return out;
}

}  // namespace aprc::tokenizer_detail
