#include "json_reader.h"

#include "aprc/error.h"

namespace aprc {

void JsonReader::fail(const std::string& what) const {
  throw_bad_input(prefix_ + ": " + (path_.empty() ? std::string("(top level)") : path_) + ": " + what);
}

JsonReader JsonReader::operator[](std::string_view key) const {
  if (!value_->is_object()) fail("expected an object");
  auto it = value_->find(key);
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (it == value_->end()) JsonReader(*value_, prefix_, path).fail("missing");
  return JsonReader(*it, prefix_, std::move(path));
}

std::optional<JsonReader> JsonReader::find(std::string_view key) const {
  if (!value_->is_object()) fail("expected an object");
  auto it = value_->find(key);
  if (it == value_->end()) return std::nullopt;
  return JsonReader(*it, prefix_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

JsonReader JsonReader::operator[](size_t index) const {
  if (!value_->is_array()) fail("expected an array");
  if (index >= value_->size()) fail("index " + std::to_string(index) + " out of range");
  return JsonReader((*value_)[index], prefix_, path_ + "[" + std::to_string(index) + "]");
}

size_t JsonReader::size() const {
  if (!value_->is_array()) fail("expected an array");
  return value_->size();
}

int64_t JsonReader::integer() const {
  if (value_->is_number_unsigned()) {
    uint64_t u = value_->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) fail("integer too large");
    return static_cast<int64_t>(u);
  }
  if (!value_->is_number_integer()) fail("expected an integer");
  return value_->get<int64_t>();
}

int64_t JsonReader::integer_in(int64_t min, int64_t max) const {
  int64_t v = integer();
  if (v < min || v > max)
    fail(std::to_string(v) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

uint64_t JsonReader::unsigned_integer() const {
  if (!value_->is_number_unsigned()) {
    if (value_->is_number_integer()) fail("expected a non-negative integer");
    fail("expected an integer");
  }
  return value_->get<uint64_t>();
}

double JsonReader::number() const {
  if (!value_->is_number()) fail("expected a number");
  return value_->get<double>();
}

bool JsonReader::boolean() const {
  if (!value_->is_boolean()) fail("expected true or false");
  return value_->get<bool>();
}

std::string JsonReader::string() const {
  if (!value_->is_string()) fail("expected a string");
  return value_->get<std::string>();
}

}  // namespace aprc
