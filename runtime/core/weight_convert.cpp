#include "aprc/formats/weight_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "aprc/error.h"

namespace aprc {
namespace {

// Rows dequantized at once: about 16 MiB of f32 whatever the row length.
int64_t chunk_rows(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(1, cols)); }

std::string type_text(DType dtype, const std::vector<int64_t>& shape, WeightLayout layout, ScaleGranularity scales) {
  std::string s = std::string(dtype_name(dtype)) + " [";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  s += "]";
  if (layout != WeightLayout::RowMajor) s += std::string(" ") + layout_name(layout);
  if (dtype == DType::FP8_E4M3) s += scales == ScaleGranularity::PerChannel ? " per_channel" : " per_tensor";
  return s;
}

// Calls fn(first_row, rows, values) over the whole tensor, a chunk of dequantized rows at a time.
void for_each_chunk(const TensorView& source, WeightLayout layout,
                    const std::function<void(int64_t, int64_t, const float*)>& fn) {
  const int64_t rows = source.rows(), cols = source.cols(), step = chunk_rows(cols);
  std::vector<float> values(static_cast<size_t>(std::min(rows, step) * cols));
  for (int64_t r = 0; r < rows; r += step) {
    const int64_t n = std::min(step, rows - r);
    dequantize_rows_in_layout(layout, source, r, r + n, values.data());
    fn(r, n, values.data());
  }
}

float max_abs(const float* x, int64_t n) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// e4m3 codes row-major, then the scales (one per row, or one).
void encode_fp8(const TensorView& source, WeightLayout layout, ScaleGranularity granularity, uint8_t* out) {
  const int64_t rows = source.rows(), cols = source.cols();
  const bool per_channel = granularity == ScaleGranularity::PerChannel;
  std::vector<float> scales(static_cast<size_t>(per_channel ? rows : 1), 0.0f);
  if (!per_channel) {
    for_each_chunk(source, layout, [&](int64_t, int64_t n, const float* v) {
      scales[0] = std::max(scales[0], max_abs(v, n * cols));
    });
    scales[0] /= 448.0f;
  }
  for_each_chunk(source, layout, [&](int64_t first, int64_t n, const float* v) {
    for (int64_t r = 0; r < n; ++r) {
      const float* x = v + r * cols;
      float& scale = scales[per_channel ? first + r : 0];
      if (per_channel) scale = max_abs(x, cols) / 448.0f;
      const float inv = scale > 0 ? 1.0f / scale : 0.0f;
      uint8_t* q = out + (first + r) * cols;
      for (int64_t c = 0; c < cols; ++c) q[c] = f32_to_fp8e4m3(x[c] * inv);
    }
  });
  std::memcpy(out + rows * cols, scales.data(), scales.size() * sizeof(float));
}

// Whether the encodings agree (the fp8 scale granularity included), whatever the layouts.
bool same_values(const TensorView& source, DType target, ScaleGranularity scales) {
  return source.dtype == target && (target != DType::FP8_E4M3 || source.scales == scales);
}

}  // namespace

bool same_encoding(const TensorView& source, WeightLayout source_layout, DType target, ScaleGranularity scales,
                   WeightLayout target_layout) {
  return same_values(source, target, scales) && source_layout == target_layout;
}

std::vector<uint8_t> convert_weight(const TensorView& source, DType target, ScaleGranularity scales,
                                    WeightLayout target_layout, WeightLayout source_layout) {
  const int64_t rows = source.rows(), cols = source.cols();
  const std::string what = "cannot convert a " + type_text(source.dtype, source.shape, source_layout, source.scales) +
                           " weight to " + type_text(target, source.shape, target_layout, scales);
  if (!format_info(target).is_float_weight) throw_bad_input(what + ": " + dtype_name(target) + " is not a weight encoding");
  if (!layout_supports(target_layout, target))
    throw_bad_input(what + ": layout " + layout_name(target_layout) + " is not defined for " + dtype_name(target));
  const auto row_major_bytes = tensor_bytes(target, source.shape, scales);
  if (!row_major_bytes || !layout_bytes(target_layout, target, rows, cols, scales))
    throw_bad_input(what + ": rows of " + std::to_string(cols) + " are not whole blocks of " + dtype_name(target) +
                    " (" + std::to_string(format_info(target).block_weights) + " weights)");
  const auto source_bytes = layout_bytes(source_layout, source.dtype, rows, cols, source.scales);
  if (!source_bytes || source.bytes.size() < *source_bytes)
    throw_bad_input(what + ": the source holds " + std::to_string(source.bytes.size()) + " bytes, fewer than its type needs");

  if (same_encoding(source, source_layout, target, scales, target_layout))
    return {source.bytes.begin(), source.bytes.begin() + static_cast<std::ptrdiff_t>(*source_bytes)};

  TensorView row_major{target, source.shape, {}, scales};
  std::vector<uint8_t> bytes;
  if (same_values(source, target, scales)) {
    // Only the layout differs: move the bytes, never re-quantize.
    if (source_layout != WeightLayout::RowMajor) {
      bytes = unpack(source_layout, TensorView{source.dtype, source.shape, source.bytes.first(*source_bytes), source.scales});
      row_major.bytes = bytes;
    } else {
      row_major.bytes = source.bytes.first(*source_bytes);
    }
  } else {
    bytes.resize(*row_major_bytes);
    if (target == DType::FP8_E4M3) {
      encode_fp8(source, source_layout, scales, bytes.data());
    } else if (target == DType::AprQ8) {
      // One scale for the whole tensor: quantize_tensor needs every value at once.
      const std::vector<float> values = [&] {
        std::vector<float> v(static_cast<size_t>(rows * cols));
        dequantize_rows_in_layout(source_layout, source, 0, rows, v.data());
        return v;
      }();
      bytes = quantize_tensor(target, values.data(), rows, cols, scales);
    } else {
      const uint64_t rb = *row_bytes(target, cols);
      for_each_chunk(source, source_layout, [&](int64_t first, int64_t n, const float* v) {
        for (int64_t r = 0; r < n; ++r) quantize_row(target, v + r * cols, cols, bytes.data() + (first + r) * rb);
      });
    }
    row_major.bytes = bytes;
  }
  if (target_layout == WeightLayout::RowMajor)
    return bytes.empty() ? std::vector<uint8_t>(row_major.bytes.begin(), row_major.bytes.end()) : std::move(bytes);
  return repack(target_layout, row_major);
}

}  // namespace aprc
