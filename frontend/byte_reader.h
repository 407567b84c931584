// A bounds-checked little-endian reader over a file's bytes. Every parser reads through one of
// these, so no count, size or offset from a file is used before it is checked against the bytes
// that are actually there; a failure is a one-line BadInput error naming the file and what was
// being read.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "aprc/error.h"

namespace aprc {

// `what` names the field for the error message; it is only turned into a string on failure, so hot
// loops pass a literal and build a detailed name only when a check fails.
class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> bytes, std::string path) : bytes_(bytes), path_(std::move(path)) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  void seek(uint64_t pos, std::string_view what) {
    if (pos > bytes_.size())
      fail(std::string(what) + ": offset " + std::to_string(pos) + " is past the end of the file (" +
           std::to_string(bytes_.size()) + " bytes)");
    pos_ = pos;
  }

  template <class T>
  T read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::span<const uint8_t> read_bytes(uint64_t n, std::string_view what) {
    need(n, what);
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  std::string_view read_string(uint64_t n, std::string_view what) {
    auto s = read_bytes(n, what);
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }

  // Fails unless n more bytes are there.
  void need(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail("truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
           ", but the file ends at " + std::to_string(bytes_.size()));
  }

  [[noreturn]] void fail(const std::string& message) const { throw_bad_input(path_ + ": " + message); }

 private:
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint64_t pos_ = 0;
};

// Overflow-checked arithmetic for sizes read from files.
inline bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// "[a, b, c]"
template <class Range>
std::string shape_string(const Range& dims) {
  std::string s = "[";
  bool first = true;
  for (auto d : dims) {
    if (!first) s += ", ";
    s += std::to_string(d);
    first = false;
  }
  return s + "]";
}

}  // namespace aprc
