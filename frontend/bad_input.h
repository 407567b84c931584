// The frontend's way to report bad input: aprc::Error(BadInput) with a message that is one line
// whatever the file holds. Names and keys in messages come from the files themselves, so control
// characters are escaped (a key with a newline cannot break the line) and a message is cut to a
// readable length.
#pragma once

#include <string>

namespace aprc {

[[noreturn]] void bad_input(const std::string& message);

}  // namespace aprc
