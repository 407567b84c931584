// aprc's one error type. Every failure the user can cause (a bad file, a bad flag) is BadInput and
// exits with code 2; everything else is Internal and exits with code 1. Messages are one line:
// the file first, then the tensor or key, then what is wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace aprc {

enum class ErrorKind { BadInput, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return kind_ == ErrorKind::BadInput ? 2 : 1; }

 private:
  ErrorKind kind_;
};

// "FILE: what is wrong". Control characters in the message (from names and keys the file holds)
// are escaped as \xNN and a message longer than 1000 characters is cut in the middle, so that it
// stays one readable line whatever the file holds.
[[noreturn]] void throw_bad_input(const std::string& message);
[[noreturn]] void throw_internal(const std::string& message);

}  // namespace aprc
