// What every parser fuzz target checks: bad input may only end in a one-line aprc::Error of kind
// BadInput. Anything else (another exception, an internal error, a sanitizer report) is a bug, and
// aborting lets libFuzzer keep the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "aprc/error.h"

namespace aprc::fuzz {

inline void expect_bad_input_only(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput || std::strchr(e.what(), '\n') != nullptr) {
      std::fprintf(stderr, "fuzz: bad input gave %s: %s\n",
                   e.kind() == ErrorKind::BadInput ? "a multi-line message" : "an internal error", e.what());
      std::abort();
    }
  }
}

}  // namespace aprc::fuzz
