#include "aprc/error.h"

#include <cstdio>

namespace aprc {
namespace {

// Names and keys in bad-input messages come from the files themselves: control characters are
// escaped (a name holding a newline cannot break the line) and a message is cut to a readable length.
std::string one_line(const std::string& message) {
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
  return line;
}

}  // namespace

void throw_bad_input(const std::string& message) { throw Error(ErrorKind::BadInput, one_line(message)); }
void throw_internal(const std::string& message) { throw Error(ErrorKind::Internal, message); }

}  // namespace aprc
