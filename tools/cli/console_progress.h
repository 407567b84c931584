// Progress (aprc/progress.h) shown on stderr: one line per stage, rewritten in place on a terminal
// (at most a few times a second), and a final "stage: N/N" line; silent when `quiet`.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "aprc/progress.h"

namespace aprc::cli {

class ConsoleProgress final : public Progress {
 public:
  explicit ConsoleProgress(bool quiet = false);
  void update(std::string_view stage, int64_t done, int64_t total) override;

 private:
  bool quiet_, terminal_;
  std::mutex mutex_;
  std::string stage_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace aprc::cli
