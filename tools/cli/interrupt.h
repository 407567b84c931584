// Ctrl-C during generation: the first one asks the loop to stop after the current token (the text
// so far stays printed, the command exits 130); a second one ends the process as usual.
#pragma once

#include <atomic>

namespace aprc::cli {

const std::atomic<bool>& catch_interrupt();

}  // namespace aprc::cli
