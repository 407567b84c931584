// Internal to aprc_core: the CUDA layouts' repacking and row decoding, called from layouts.cpp.
// The kernels in codegen/cuda and the layout documentation in formats/layouts.h describe the same
// byte arrangement; cuda_layout_plane_offset is the one place that computes where a plane starts.
#pragma once

#include <cstdint>
#include <vector>

#include "aprc/formats/layouts.h"

namespace aprc {

bool is_cuda_layout(WeightLayout layout);
// The block format a CUDA layout holds (each is specific to one).
DType cuda_layout_dtype(WeightLayout layout);
// Byte offset of plane `plane` of a tensor of `total_blocks` blocks (rows * blocks per row).
uint64_t cuda_layout_plane_offset(WeightLayout layout, int64_t total_blocks, int plane);
// (offset, bytes) of each plane of a tensor of `total_blocks` blocks.
std::vector<std::pair<uint64_t, uint64_t>> cuda_layout_planes(WeightLayout layout, int64_t total_blocks);
std::vector<uint8_t> cuda_repack(WeightLayout layout, const TensorView& row_major);
std::vector<uint8_t> cuda_unpack(WeightLayout layout, const TensorView& packed);  // cuda_repack's inverse
void cuda_dequantize_rows(WeightLayout layout, const TensorView& view, int64_t row_begin, int64_t row_end,
                          float* out);

}  // namespace aprc
