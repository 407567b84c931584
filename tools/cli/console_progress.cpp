#include "console_progress.h"

#include <unistd.h>

#include <cstdio>

namespace aprc::cli {

ConsoleProgress::ConsoleProgress(bool quiet) : quiet_(quiet), terminal_(isatty(STDERR_FILENO) != 0) {}

void ConsoleProgress::update(std::string_view stage, int64_t done, int64_t total) {
  if (quiet_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  const bool finished = done >= total;
  const bool new_stage = stage != stage_;
  stage_ = stage;
  if (!finished && !new_stage && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
  if (terminal_) {
    std::fprintf(stderr, "\r%.*s: %lld/%lld (%d%%)\033[K%s", static_cast<int>(stage.size()), stage.data(),
                 static_cast<long long>(done), static_cast<long long>(total), percent, finished ? "\n" : "");
  } else if (finished) {
    std::fprintf(stderr, "%.*s: %lld/%lld\n", static_cast<int>(stage.size()), stage.data(),
                 static_cast<long long>(done), static_cast<long long>(total));
  }
  std::fflush(stderr);
}

}  // namespace aprc::cli
