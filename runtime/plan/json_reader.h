// Reading JSON that came from a file: every value is looked up through a JsonReader, which knows
// its path in the document ("targets[0].functions[2].steps[5].kernel") so that a wrong type, a
// missing key or an out-of-range number is one line naming the file, the key and the problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace aprc {

class JsonReader {
 public:
  // `prefix` starts every message, e.g. "model.plan: manifest".
  JsonReader(const nlohmann::json& value, std::string prefix, std::string path = {})
      : value_(&value), prefix_(std::move(prefix)), path_(std::move(path)) {}

  JsonReader operator[](std::string_view key) const;  // a required key of an object
  std::optional<JsonReader> find(std::string_view key) const;
  JsonReader operator[](size_t index) const;  // an element of an array
  size_t size() const;                         // of an array (fails on other types)

  int64_t integer() const;
  int64_t integer_in(int64_t min, int64_t max) const;
  uint64_t unsigned_integer() const;
  double number() const;
  bool boolean() const;
  std::string string() const;

  const nlohmann::json& raw() const { return *value_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const nlohmann::json* value_;
  std::string prefix_;
  std::string path_;
};

}  // namespace aprc
