#include "file_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "aprc/crc32.h"
#include "aprc/error.h"

namespace aprc {
namespace {

// Rows converted at once: about a million weights whatever the row length.
int64_t chunk_rows(int64_t cols) { return std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(cols, 1)); }

}  // namespace

FileWriter::FileWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw_bad_input(tmp_ + ": cannot create: " + std::strerror(errno));
}

FileWriter::~FileWriter() {
  if (!f_) return;
  std::fclose(f_);
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void FileWriter::write(const void* data, size_t n) {
  if (n == 0) return;
  crc_ = crc32_update(crc_, data, n);
  if (std::fwrite(data, 1, n, f_) != n) throw_bad_input(tmp_ + ": write failed: " + std::strerror(errno));
  written_ += n;
}

void FileWriter::pad_to(uint64_t offset) {
  static const uint8_t zeros[64] = {};
  while (written_ < offset) write(zeros, std::min<uint64_t>(sizeof zeros, offset - written_));
}

void FileWriter::commit() {
  const int closed = std::fclose(f_);
  f_ = nullptr;
  std::error_code ec;
  if (closed != 0) {
    std::filesystem::remove(tmp_, ec);
    throw_bad_input(tmp_ + ": write failed: " + std::strerror(errno));
  }
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    std::filesystem::remove(tmp_, ec);
    throw_bad_input(path_ + ": cannot move " + tmp_ + " into place: " + ec.message());
  }
}

std::pair<float, bool> scan_values(const TensorView& v) {
  const int64_t cols = v.cols(), rows = v.rows(), chunk = chunk_rows(cols);
  std::vector<float> buf(static_cast<size_t>(std::min(chunk, rows) * cols));
  float m = 0;
  for (int64_t r = 0; r < rows; r += chunk) {
    const int64_t end = std::min(rows, r + chunk);
    dequantize_rows(v, r, end, buf.data());
    for (int64_t i = 0; i < (end - r) * cols; ++i) {
      if (!std::isfinite(buf[i])) return {m, false};
      m = std::max(m, std::fabs(buf[i]));
    }
  }
  return {m, true};
}

void write_tensor_as(FileWriter& w, const TensorView& v, DType stored) {
  if (stored == v.dtype) return w.write(v.bytes.data(), v.bytes.size());
  const int64_t cols = v.cols(), rows = v.rows(), chunk = chunk_rows(cols);
  const uint64_t rb = *row_bytes(stored, cols);
  std::vector<float> buf(static_cast<size_t>(std::min(chunk, rows) * cols));
  std::vector<uint8_t> out(static_cast<size_t>(std::min(chunk, rows) * rb));
  for (int64_t r = 0; r < rows; r += chunk) {
    const int64_t end = std::min(rows, r + chunk);
    dequantize_rows(v, r, end, buf.data());
    for (int64_t k = 0; k < end - r; ++k) quantize_row(stored, buf.data() + k * cols, cols, out.data() + k * rb);
    w.write(out.data(), static_cast<size_t>((end - r) * rb));
  }
}

}  // namespace aprc
