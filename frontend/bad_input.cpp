#include "bad_input.h"

#include <cstdio>

#include "aprc/error.h"

namespace aprc {

void bad_input(const std::string& message) {
  constexpr size_t kMaxLength = 1000;
  std::string line;
  line.reserve(message.size());
  for (const char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      line += esc;
    } else {
      line += ch;
    }
  }
  if (line.size() > kMaxLength) line = line.substr(0, kMaxLength / 2) + " ... " + line.substr(line.size() - kMaxLength / 2);
  throw_bad_input(line);
}

}  // namespace aprc
