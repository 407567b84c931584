// Helpers for the frontend tests: the shared fixtures (skipped with a message when absent) and
// scratch files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace aprc::testing {

inline std::string fixtures_dir() {
  const char* env = std::getenv("APRC_FIXTURES");
  return env && *env ? env : "../shared/fixtures";
}

// The path of fixture `name`, or "" when it is absent (the caller skips).
inline std::string fixture(const std::string& name) {
  const std::string p = fixtures_dir() + "/" + name;
  return std::filesystem::exists(p) ? p : std::string();
}

#define APRC_FIXTURE_OR_SKIP(var, name)                                                            \
  const std::string var = ::aprc::testing::fixture(name);                                          \
  if (var.empty()) GTEST_SKIP() << "fixture " << name << " not found under " << ::aprc::testing::fixtures_dir() \
                                << " (set APRC_FIXTURES)"

// A fresh scratch folder for one test, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("aprc-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

}  // namespace aprc::testing
