// Weight layouts: how the rows of a weight are arranged in memory. Model files store weights
// row_major ([out, in], each row a run of blocks). The layout passes rewrite a weight's IR type to a
// target layout that a backend's kernels read fastest; each target layout is defined here, once:
// its byte arrangement (documented at its enumerator), how to produce it from row_major bytes, and
// how to read a row back (so the reference interpreter can run any module, repacked or not).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "aprc/formats/formats.h"

namespace aprc {

enum class WeightLayout : uint8_t {
  RowMajor,  // [out, in], row after row, each row a run of blocks: as model files store weights

  // cpu_r16: what the CPU matrix kernels read, for q8_0, q5_0, q4_k and q6_k. Rows go in groups
  // of 16 (the last group padded with zero rows, so the tensor holds ceil(rows/16)*16 rows); a
  // group is stored block column after block column, and the 16 blocks of one block column form
  // a tile of 16 * block_bytes bytes in which every field is transposed so that the 16 rows' copies
  // of a byte (or f16) are adjacent: element i of a field, row r, lies at
  //   field_offset_in_tile + (i * 16 + r) * element_size.
  // A vector load of 16 bytes thus gives one code for 16 rows: the kernels keep rows in vector
  // lanes, need no horizontal sums, and unpack scales for 16 rows at once. The bytes per weight do
  // not change. Tile fields, in order (element size in bytes x count):
  //   q8_0 (544 B): d (2 x 1), qs (1 x 32)
  //   q5_0 (352 B): d (2 x 1), qh (2 x 32), qs (1 x 16). qh is bit-transposed: qh[j] is a u16
  //                 whose bit r is the 5th bit of weight j of row r (a lane mask for weight j).
  //   q4_k (2304 B): d (2 x 1), dmin (2 x 1), scales (1 x 12, still 6-bit packed), qs (1 x 128)
  //   q6_k (3360 B): ql (1 x 128), qh (1 x 64), scales (1 x 16), d (2 x 1)
  // Everything else about a field (bit packing, nibble order) is as in the row_major block.
  CpuR16,

  // ---- CUDA layouts (codegen/cuda reads them). The decode matrix-vector kernels give each lane one
  // 16-byte "chunk" of a row per step, consecutive lanes consecutive chunks, so every warp load is one
  // contiguous 512-byte run. Each layout splits a block into planes (regions), each plane holds that
  // part of every block, row after row, block after block ((row * blocks_per_row + block) order), and
  // the planes follow each other. When the tensor starts 16-byte aligned, every plane starts aligned to
  // the loads kernels make from it (16 bytes for quant planes, 8, 4 or 2 for the smaller ones). Bytes are
  // never changed, only moved: the total size equals the row_major size, and dequantization gives
  // bit-identical values.
  //
  // Group order: the kernels multiply 4 weights at a time with byte dot products (dp4a), so the 32
  // weights of a sub-block ("chunk") are seen as 8 groups of 4: group g (0..7), element j (0..3) is
  // weight 8 * (g / 2) + 2 * j + (g % 2) of the chunk (even weights of each run of 8, then the odd
  // ones), which is what masking the low and the high nibbles of a 32-bit word of packed 4-bit codes
  // gives. Extra high bits are stored "bit-sliced" in that order, so one shift and one mask yield the
  // bits of a whole group.

  // Q4_K. Plane 0: quants, 128 bytes a block: 8 chunks of 16 bytes, chunk j = sub-block j (weights
  //   32j..32j+31 of the block), weight 32j+2i in the low nibble of byte i, 32j+2i+1 in the high one.
  //   Plane 1: the first 16 bytes of each block unchanged (f16 d, f16 dmin, 12 bytes of 6-bit scales
  //   and mins).
  CudaQ4K,
  // Q5_K. Plane 0: low 4 bits, as CudaQ4K's plane 0. Plane 1: 5th bits, a little-endian u32 per
  //   sub-block: bit 8j + g = 5th bit of group g, element j. Plane 2: the 16-byte headers (d, dmin,
  //   scales), as CudaQ4K's plane 1.
  CudaQ5K,
  // Q6_K. Plane 0: low 4 bits, 128 bytes a block, as CudaQ4K's plane 0. Plane 1: high 2 bits, two
  //   little-endian u32 per sub-block: u32 a (0, 1) holds groups 4a..4a+3, bits 8j + 2k..8j + 2k + 1 =
  //   high bits of group 4a + k, element j. Plane 2: the 16 int8 scales unchanged (one per 16 weights).
  //   Plane 3: the f16 d, 2 bytes a block.
  CudaQ6K,
  // Q8_0 (blocks of 32). Plane 0: the 32 int8 quants of each block in group order: byte 4g + j is
  //   group g, element j (two 16-byte chunks, groups 0-3 and 4-7). Plane 1: the f16 d, 2 bytes a block.
  CudaQ8_0,
  // Q5_0 (blocks of 32). Plane 0: low 4 bits, 16 bytes a block, weight 2i in the low nibble of byte i,
  //   2i+1 in the high one. Plane 1: 5th bits, a little-endian u32 a block, bit 8j + g = group g,
  //   element j. Plane 2: the f16 d, 2 bytes a block.
  CudaQ5_0,
};

const char* layout_name(WeightLayout layout);
std::optional<WeightLayout> layout_from_name(std::string_view name);

// Whether `layout` is defined for weights of `dtype` (a layout is usually specific to a format).
bool layout_supports(WeightLayout layout, DType dtype);

// Bytes of a [rows, cols] weight of `dtype` in `layout`.
std::optional<uint64_t> layout_bytes(WeightLayout layout, DType dtype, int64_t rows, int64_t cols,
                                     ScaleGranularity scales = ScaleGranularity::PerChannel);

// The planes of a [rows, cols] weight of `dtype` in `layout`, as (byte offset, bytes), in order (one
// plane for the layouts that are not split into planes: row_major, cpu_r16). Kernels and prefetchers use it to find where each part of the tensor lies.
std::vector<std::pair<uint64_t, uint64_t>> layout_planes(WeightLayout layout, DType dtype, int64_t rows, int64_t cols);

// Rearranges a row_major tensor into `layout`.
std::vector<uint8_t> repack(WeightLayout layout, const TensorView& row_major);

// The inverse of repack: a tensor stored in `layout` ([rows, cols] in `packed`'s shape) rearranged
// back into row_major bytes, losslessly (aprc verify gives the reference the original weights).
std::vector<uint8_t> unpack(WeightLayout layout, const TensorView& packed);

// Dequantizes rows [row_begin, row_end) of a tensor stored in `layout`.
void dequantize_rows_in_layout(WeightLayout layout, const TensorView& view, int64_t row_begin,
                               int64_t row_end, float* out);

// The backends a plan's code is generated for.
enum class Backend : uint8_t { Cpu, Cuda };

// The layout that `backend`'s matrix kernels (linear, fused_linear, logits) read for weights of
// `dtype`; row_major where the backend has no layout of its own for that encoding. The layout pass
// (aprc-repack-weights) asks only this function, so that the choice is made in one place
// (runtime/core/target_layouts.cpp). Callers still check layout_bytes for the weight's shape.
WeightLayout preferred_layout(Backend backend, DType dtype);

}  // namespace aprc
