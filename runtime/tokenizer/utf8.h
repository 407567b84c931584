// The UTF-8 rules the tokenizer needs: strict decoding of one character, and lossy conversion that
// replaces each maximal invalid subpart with U+FFFD (as Rust's String::from_utf8_lossy and the
// WHATWG decoder do, so that aprc's decoded text is Hugging Face's byte for byte).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace aprc::tokenizer_detail {

std::string utf8_encode(char32_t cp);

// Decodes the character at the start of `s`; returns its length in bytes, or 0 when `s` does not
// start with a complete, valid (shortest-form, non-surrogate, <= U+10FFFF) character.
size_t utf8_decode_one(std::string_view s, char32_t& cp);

// The offset of the first byte that is not part of valid UTF-8, or nullopt when `s` is valid.
std::optional<size_t> utf8_first_invalid(std::string_view s);

// Appends `s` to `out` with invalid bytes replaced. With `final_chunk` false, a valid but
// incomplete character at the very end is not consumed; returns the number of bytes consumed.
size_t utf8_append_lossy(std::string_view s, std::string& out, bool final_chunk);

}  // namespace aprc::tokenizer_detail
