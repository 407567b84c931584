// A read-only memory mapping of a whole file. Model weights are read through these, never copied
// into memory, so inspecting or loading a multi-gigabyte model costs page-table entries, not RAM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace aprc {

class MappedFile {
 public:
  // Throws Error(BadInput) naming the path when it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // Bytes made in memory rather than read from a file (synthetic weights): an anonymous mapping of
  // `size` bytes that `fill` writes once, read-only afterwards. `name` stands in for the path in
  // messages. Throws Error(BadInput) when the memory cannot be had.
  static std::shared_ptr<const MappedFile> anonymous(std::string name, size_t size,
                                                     const std::function<void(uint8_t*)>& fill);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace aprc
