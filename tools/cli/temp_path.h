// A file name in the temporary folder, unique to this process, removed when it goes out of scope
// (the plans that `aprc demo` and `aprc perplexity MODEL --engine cpu` compile and run once).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace aprc::cli {

class TempPath {
 public:
  TempPath(const std::string& stem, const std::string& extension)
      : path_((std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + extension)).string()) {}
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

}  // namespace aprc::cli
