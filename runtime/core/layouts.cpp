#include "aprc/formats/layouts.h"

#include "aprc/error.h"

namespace aprc {

const char* layout_name(WeightLayout layout) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return "row_major";
  }
  throw_internal("layout_name: unknown layout");
}

std::optional<WeightLayout> layout_from_name(std::string_view name) {
  if (name == "row_major") return WeightLayout::RowMajor;
  return std::nullopt;
}

bool layout_supports(WeightLayout layout, DType dtype) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return format_info(dtype).is_float_weight;
  }
  return false;
}

std::optional<uint64_t> layout_bytes(WeightLayout layout, DType dtype, int64_t rows, int64_t cols,
                                     ScaleGranularity scales) {
  const int64_t shape[2] = {rows, cols};
  switch (layout) {
    case WeightLayout::RowMajor:
      return tensor_bytes(dtype, shape, scales);
  }
  return std::nullopt;
}

std::vector<uint8_t> repack(WeightLayout layout, const TensorView& row_major) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return {row_major.bytes.begin(), row_major.bytes.end()};
  }
  throw_internal("repack: unknown layout");
}

void dequantize_rows_in_layout(WeightLayout layout, const TensorView& view, int64_t row_begin,
                               int64_t row_end, float* out) {
  switch (layout) {
    case WeightLayout::RowMajor:
      return dequantize_rows(view, row_begin, row_end, out);
  }
  throw_internal("dequantize_rows_in_layout: unknown layout");
}

}  // namespace aprc
