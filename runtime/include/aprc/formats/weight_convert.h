// Materializing a weight whose IR type differs from the tensor it is stored as: the one function
// that turns the stored bytes (any encoding, any layout) into the bytes of another encoding and
// layout (e.g. the q4_k tensor of a model file into the fp8e4m3 per-channel weight that the
// aprc-cast-fp8 pass declared, or into f32 for a dequantized reference). The plan writer and the
// interpreter's model-backed WeightSource both call it, so that every consumer of a cast weight
// reads the same bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"

namespace aprc {

// Whether `source` (stored in `source_layout`) already is a `target` weight in `target_layout`.
bool same_encoding(const TensorView& source, WeightLayout source_layout, DType target, ScaleGranularity scales,
                   WeightLayout target_layout);

// The bytes of `source` as a `target` weight in `target_layout` (tensor_bytes / layout_bytes of its
// shape). When only the layout differs, the bytes are rearranged (repack), never re-quantized; a
// different encoding dequantizes the source and quantizes the values:
//   - fp8e4m3: scale = max|row| / 448 (per_channel) or max|tensor| / 448 (per_tensor), each value
//     rounded to nearest even in e4m3 after multiplying by 1/scale, saturating at +-448; an
//     all-zero row (or tensor) gets scale 0 and zero codes;
//   - every other encoding: formats/ quantize_row, row by row.
// Works a bounded number of rows at a time, so that converting a large weight never holds the
// whole tensor in f32. A shape the target cannot hold (rows not whole blocks, a layout that does
// not support the encoding) is Error(BadInput) naming both types; the caller names the tensor.
std::vector<uint8_t> convert_weight(const TensorView& source, DType target, ScaleGranularity scales,
                                    WeightLayout target_layout,
                                    WeightLayout source_layout = WeightLayout::RowMajor);

}  // namespace aprc
