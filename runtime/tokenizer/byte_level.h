// GPT-2's byte-level alphabet: every byte has a printable character, so that a BPE vocabulary of
// strings can spell arbitrary bytes. Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC,
// U+00AE..U+00FF) stand for themselves; the other 68 bytes take U+0100.. in byte order
// (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aprc::tokenizer_detail {

// The UTF-8 of the character that stands for `byte`.
std::string_view byte_level_char(uint8_t byte);

// Appends the byte-level spelling of `bytes` to `out`.
void byte_level_encode(std::string_view bytes, std::string& out);

// The bytes a byte-level spelled string stands for; nullopt when it holds a character outside the
// alphabet (or is not valid UTF-8).
std::optional<std::string> byte_level_decode(std::string_view text);

}  // namespace aprc::tokenizer_detail
