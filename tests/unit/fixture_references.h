// The fixtures' reference logits (../shared/fixtures/README.md): where the fixtures are, and the
// per-prompt lines of a `.ref.jsonl` file. Shared by the tests that compare an engine with them.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace aprc::testing
