// The fixtures' reference logits (../shared/fixtures/README.md): where the fixtures are, the
// per-prompt lines of a `.ref.jsonl` file, the full last-position rows, and the helpers the tests
// that compare an engine with them share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "aprc/argmax.h"

namespace aprc::testing {

// APRC_FIXTURES, else ../shared/fixtures.
inline std::filesystem::path fixtures() {
  const char* env = std::getenv("APRC_FIXTURES");
  return env ? std::filesystem::path(env) : std::filesystem::path("../shared/fixtures");
}

struct FixtureReference {
  int prompt = 0;
  std::vector<int32_t> ids;
  std::vector<std::vector<std::pair<int32_t, double>>> top;  // per position: (token, logit)
  std::vector<int32_t> greedy;
};

// The lines of `engine` in a .ref.jsonl file, in file order.
inline std::vector<FixtureReference> read_fixture_references(const std::filesystem::path& jsonl, const std::string& engine) {
  std::vector<FixtureReference> refs;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    if (j.at("engine") != engine) continue;
    FixtureReference r;
    r.prompt = j.at("prompt").get<int>();
    r.ids = j.at("prompt_ids").get<std::vector<int32_t>>();
    for (const auto& position : j.at("top")) {
      r.top.emplace_back();
      for (const auto& entry : position) r.top.back().emplace_back(entry.at(0).get<int32_t>(), entry.at(1).get<double>());
    }
    r.greedy = j.at("greedy_ids").get<std::vector<int32_t>>();
    refs.push_back(std::move(r));
  }
  return refs;
}

// A file of float32 values (the fixtures' .pN.last.f32 rows).
inline std::vector<float> read_floats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v(std::filesystem::file_size(path) / sizeof(float));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

inline double max_abs(const float* row, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(row[i])));
  return m;
}

// The runtime's greedy rule (aprc/argmax.h), as a token id.
inline int32_t argmax(const float* row, int64_t n) { return static_cast<int32_t>(first_argmax(row, n)); }

}  // namespace aprc::testing
