// Writing model files: a buffered output file that keeps the CRC32 of everything written and is
// renamed into place only when complete, and tensors streamed into it a chunk of rows at a time
// (converted to another format on the way), so that memory stays small whatever the model's size.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "aprc/formats/formats.h"

namespace aprc {

class FileWriter {
 public:
  // Writes to PATH.tmp; commit() renames it to PATH. Destroyed uncommitted, the temporary goes.
  explicit FileWriter(std::string path);
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void write(const void* data, size_t n);
  void pad_to(uint64_t offset);  // zero bytes up to `offset` from the start
  void commit();
  uint32_t crc() const { return crc_; }
  uint64_t written() const { return written_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint32_t crc_ = 0;
  uint64_t written_ = 0;
};

// Largest |value| of a tensor, and whether every value is finite.
std::pair<float, bool> scan_values(const TensorView& view);

// Writes the tensor as `stored`: its bytes unchanged when that is its own format, else dequantized
// and quantized again a chunk of rows at a time.
void write_tensor_as(FileWriter& w, const TensorView& view, DType stored);

}  // namespace aprc
