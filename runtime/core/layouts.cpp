#include "aprc/formats/layouts.h"

#include <cstring>

#include "aprc/error.h"
#include "layouts_cuda.h"

namespace aprc {
namespace {

constexpr int64_t kR16 = 16;

// One field of a block, as cpu_r16 transposes it: `count` elements of `size` bytes at `offset`.
struct BlockField {
  int offset, size, count;
};

// The fields of a block in block order (which is also their order in a cpu_r16 tile). Q5_0's qh
// is listed as one 4-byte element; its tile form is bit-transposed (see layouts.h), handled apart.
std::vector<BlockField> r16_fields(DType dtype) {
  switch (dtype) {
    case DType::Q8_0: return {{0, 2, 1}, {2, 1, 32}};
    case DType::Q5_0: return {{0, 2, 1}, {2, 4, 1}, {6, 1, 16}};
    case DType::Q4_K: return {{0, 2, 1}, {2, 2, 1}, {4, 1, 12}, {16, 1, 128}};
    case DType::Q6_K: return {{0, 1, 128}, {128, 1, 64}, {192, 1, 16}, {208, 2, 1}};
    default: throw_internal(std::string("cpu_r16 does not hold ") + dtype_name(dtype) + " weights");
  }
}

// Copies block `block` (bytes block_bytes) of row r (0..15) into or out of its tile. In a tile the
// fields follow one another; Q5_0's qh (tile offset 32, 64 bytes) is 32 u16 lane masks.
void r16_transfer(DType dtype, uint8_t* tile, int r, uint8_t* block, bool to_tile) {
  int tile_offset = 0;
  for (const BlockField& f : r16_fields(dtype)) {
    if (dtype == DType::Q5_0 && f.size == 4) {
      uint8_t* masks = tile + tile_offset;
      for (int j = 0; j < 32; ++j) {
        uint8_t& mask_byte = masks[2 * j + r / 8];
        const uint8_t bit = uint8_t(1u << (r % 8));
        uint8_t& qh_byte = block[f.offset + j / 8];
        const uint8_t qbit = uint8_t(1u << (j % 8));
        if (to_tile) mask_byte = (qh_byte & qbit) ? (mask_byte | bit) : (mask_byte & ~bit);
        else qh_byte = (mask_byte & bit) ? (qh_byte | qbit) : (qh_byte & ~qbit);
      }
      tile_offset += 64;
      continue;
    }
    for (int i = 0; i < f.count; ++i) {
      uint8_t* t = tile + tile_offset + (i * kR16 + r) * f.size;
      uint8_t* b = block + f.offset + i * f.size;
      if (to_tile) std::memcpy(t, b, f.size);
      else std::memcpy(b, t, f.size);
    }
    tile_offset += f.size * f.count * kR16;
  }
}

int64_t padded_rows(int64_t rows) { return (rows + kR16 - 1) / kR16 * kR16; }

void check_view(const char* what, WeightLayout layout, const TensorView& view, uint64_t need) {
  if (view.bytes.size() < need)
    throw_internal(std::string(what) + ": " + dtype_name(view.dtype) + " tensor in " + layout_name(layout) +
                   " has " + std::to_string(view.bytes.size()) + " bytes, needs " + std::to_string(need));
}

}  // namespace

const char* layout_name(WeightLayout layout) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return "row_major";
    case WeightLayout::CpuR16:
      return "cpu_r16";
    case WeightLayout::CudaQ4K:
      return "cuda_q4_k";
    case WeightLayout::CudaQ5K:
      return "cuda_q5_k";
    case WeightLayout::CudaQ6K:
      return "cuda_q6_k";
    case WeightLayout::CudaQ8_0:
      return "cuda_q8_0";
    case WeightLayout::CudaQ5_0:
      return "cuda_q5_0";
  }
  throw_internal("layout_name: unknown layout");
}

std::optional<WeightLayout> layout_from_name(std::string_view name) {
  if (name == "row_major") return WeightLayout::RowMajor;
  if (name == "cpu_r16") return WeightLayout::CpuR16;
  for (WeightLayout l : {WeightLayout::CudaQ4K, WeightLayout::CudaQ5K, WeightLayout::CudaQ6K, WeightLayout::CudaQ8_0,
                         WeightLayout::CudaQ5_0})
    if (name == layout_name(l)) return l;
  return std::nullopt;
}

bool layout_supports(WeightLayout layout, DType dtype) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return format_info(dtype).is_float_weight;
    case WeightLayout::CpuR16:
      return dtype == DType::Q8_0 || dtype == DType::Q5_0 || dtype == DType::Q4_K || dtype == DType::Q6_K;
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:
      return cuda_layout_dtype(layout) == dtype;
  }
  return false;
}

std::optional<uint64_t> layout_bytes(WeightLayout layout, DType dtype, int64_t rows, int64_t cols,
                                     ScaleGranularity scales) {
  const int64_t shape[2] = {rows, cols};
  switch (layout) {
    case WeightLayout::RowMajor:
      return tensor_bytes(dtype, shape, scales);
    case WeightLayout::CpuR16: {
      if (!layout_supports(layout, dtype) || rows < 0) return std::nullopt;
      const int64_t padded[2] = {padded_rows(rows), cols};
      return tensor_bytes(dtype, padded);
    }
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:  // planes only move bytes: the size is the row_major size
      if (!layout_supports(layout, dtype)) return std::nullopt;
      return tensor_bytes(dtype, shape, scales);
  }
  return std::nullopt;
}

std::vector<std::pair<uint64_t, uint64_t>> layout_planes(WeightLayout layout, DType dtype, int64_t rows, int64_t cols) {
  const auto bytes = layout_bytes(layout, dtype, rows, cols);
  if (!bytes) throw_internal(std::string("layout_planes: ") + layout_name(layout) + " does not hold this " + dtype_name(dtype) + " shape");
  if (!is_cuda_layout(layout)) return {{0, *bytes}};
  return cuda_layout_planes(layout, rows * (cols / format_info(dtype).block_weights));
}

std::vector<uint8_t> repack(WeightLayout layout, const TensorView& row_major) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return {row_major.bytes.begin(), row_major.bytes.end()};
    case WeightLayout::CpuR16: {
      const DType dt = row_major.dtype;
      const int64_t rows = row_major.rows(), cols = row_major.cols();
      const auto out_bytes = layout_bytes(layout, dt, rows, cols);
      const auto in_bytes = tensor_bytes(dt, row_major.shape);
      if (!out_bytes || !in_bytes) throw_internal(std::string("repack: cpu_r16 cannot hold ") + dtype_name(dt));
      check_view("repack", WeightLayout::RowMajor, row_major, *in_bytes);
      const FormatInfo& f = format_info(dt);
      const int64_t blocks = cols / f.block_weights, tile = kR16 * f.block_bytes;
      std::vector<uint8_t> out(*out_bytes, 0);
      std::vector<uint8_t> block(f.block_bytes);
      for (int64_t row = 0; row < rows; ++row) {
        const uint8_t* src = row_major.bytes.data() + row * blocks * f.block_bytes;
        for (int64_t b = 0; b < blocks; ++b) {
          std::memcpy(block.data(), src + b * f.block_bytes, f.block_bytes);
          r16_transfer(dt, out.data() + ((row / kR16) * blocks + b) * tile, int(row % kR16), block.data(), true);
        }
      }
      return out;
    }
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:
      return cuda_repack(layout, row_major);
  }
  throw_internal("repack: unknown layout");
}

std::vector<uint8_t> unpack(WeightLayout layout, const TensorView& packed) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return {packed.bytes.begin(), packed.bytes.end()};
    case WeightLayout::CpuR16: {
      const DType dt = packed.dtype;
      const int64_t rows = packed.rows(), cols = packed.cols();
      const auto in_bytes = layout_bytes(layout, dt, rows, cols);
      const auto out_bytes = tensor_bytes(dt, packed.shape);
      if (!out_bytes || !in_bytes) throw_internal(std::string("unpack: cpu_r16 cannot hold ") + dtype_name(dt));
      check_view("unpack", layout, packed, *in_bytes);
      const FormatInfo& f = format_info(dt);
      const int64_t blocks = cols / f.block_weights, tile = kR16 * f.block_bytes;
      std::vector<uint8_t> out(*out_bytes);
      std::vector<uint8_t> tile_copy(tile);  // r16_transfer reads the tile through a mutable pointer
      for (int64_t row = 0; row < rows; ++row)
        for (int64_t b = 0; b < blocks; ++b) {
          std::memcpy(tile_copy.data(), packed.bytes.data() + ((row / kR16) * blocks + b) * tile, tile);
          r16_transfer(dt, tile_copy.data(), int(row % kR16), out.data() + (row * blocks + b) * f.block_bytes, false);
        }
      return out;
    }
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:
      return cuda_unpack(layout, packed);
  }
  throw_internal("unpack: unknown layout");
}

void dequantize_rows_in_layout(WeightLayout layout, const TensorView& view, int64_t row_begin,
                               int64_t row_end, float* out) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return dequantize_rows(view, row_begin, row_end, out);
    case WeightLayout::CpuR16: {
      const DType dt = view.dtype;
      const int64_t rows = view.rows(), cols = view.cols();
      const auto need = layout_bytes(layout, dt, rows, cols);
      if (!need) throw_internal(std::string("dequantize_rows_in_layout: cpu_r16 cannot hold ") + dtype_name(dt));
      check_view("dequantize_rows_in_layout", layout, view, *need);
      if (row_begin < 0 || row_end > rows || row_begin > row_end)
        throw_internal("dequantize_rows_in_layout: rows out of range");
      // Gather each row back into its row_major blocks, then decode those.
      const FormatInfo& f = format_info(dt);
      const int64_t blocks = cols / f.block_weights, tile = kR16 * f.block_bytes;
      std::vector<uint8_t> row_bytes_buf(blocks * f.block_bytes);
      std::vector<uint8_t> tile_copy(tile);
      for (int64_t row = row_begin; row < row_end; ++row) {
        for (int64_t b = 0; b < blocks; ++b) {
          std::memcpy(tile_copy.data(), view.bytes.data() + ((row / kR16) * blocks + b) * tile, tile);
          r16_transfer(dt, tile_copy.data(), int(row % kR16), row_bytes_buf.data() + b * f.block_bytes, false);
        }
        TensorView one{dt, {1, cols}, row_bytes_buf, view.scales};
        dequantize_rows(one, 0, 1, out + (row - row_begin) * cols);
      }
      return;
    }
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:
      return cuda_dequantize_rows(layout, view, row_begin, row_end, out);
  }
  throw_internal("dequantize_rows_in_layout: unknown layout");
}

}  // namespace aprc
