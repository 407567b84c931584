#include "aprc/formats/formats.h"

#include <cstring>
#include <limits>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"

namespace aprc {
namespace {

constexpr FormatInfo kFormats[] = {
    {DType::F32, "f32", 1, 4, true},
    {DType::F16, "f16", 1, 2, true},
    {DType::BF16, "bf16", 1, 2, true},
    {DType::F64, "f64", 1, 8, true},
    {DType::I32, "i32", 1, 4, false},
    {DType::I64, "i64", 1, 8, false},
    {DType::I8, "i8", 1, 1, false},
    {DType::U8, "u8", 1, 1, false},
    {DType::Q8_0, "q8_0", APRC_QK8_0, sizeof(aprc_block_q8_0), true},
    {DType::Q5_0, "q5_0", APRC_QK5_0, sizeof(aprc_block_q5_0), true},
    {DType::Q4_K, "q4_k", APRC_QK_K, sizeof(aprc_block_q4_k), true},
    {DType::Q5_K, "q5_k", APRC_QK_K, sizeof(aprc_block_q5_k), true},
    {DType::Q6_K, "q6_k", APRC_QK_K, sizeof(aprc_block_q6_k), true},
    {DType::AprQ4, "aprq4", APRC_QK_APRQ4, sizeof(aprc_block_aprq4), true},
    {DType::AprQ8, "aprq8", 1, 1, true},
    {DType::FP8_E4M3, "fp8e4m3", 1, 1, true},
};

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

const FormatInfo& format_info(DType dtype) {
  for (const auto& f : kFormats)
    if (f.dtype == dtype) return f;
  throw_internal("format_info: unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) { return format_info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& f : kFormats)
    if (name == f.name) return f.dtype;
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType dtype, int64_t n) {
  const FormatInfo& f = format_info(dtype);
  if (n < 0 || n % f.block_weights != 0) return std::nullopt;
  uint64_t bytes;
  if (mul_overflows(static_cast<uint64_t>(n / f.block_weights), f.block_bytes, &bytes)) return std::nullopt;
  return bytes;
}

std::optional<uint64_t> tensor_bytes(DType dtype, std::span<const int64_t> shape, ScaleGranularity scales) {
  if (shape.empty()) return std::nullopt;
  uint64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    if (shape[i] < 0 || mul_overflows(rows, static_cast<uint64_t>(shape[i]), &rows)) return std::nullopt;
  }
  auto per_row = row_bytes(dtype, shape.back());
  if (!per_row) return std::nullopt;
  uint64_t total;
  if (mul_overflows(rows, *per_row, &total)) return std::nullopt;
  if (dtype == DType::AprQ8) total += 4;
  if (dtype == DType::FP8_E4M3) total += 4 * (scales == ScaleGranularity::PerChannel ? rows : 1);
  return total;
}

int64_t TensorView::rows() const {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) r *= shape[i];
  return r;
}

int64_t TensorView::cols() const { return shape.empty() ? 0 : shape.back(); }

void dequantize_rows(const TensorView& view, int64_t row_begin, int64_t row_end, float* out) {
  const int64_t cols = view.cols();
  if (row_begin < 0 || row_end > view.rows() || row_begin > row_end)
    throw_internal("dequantize_rows: rows out of range");
  const auto expected = tensor_bytes(view.dtype, view.shape, view.scales);
  if (!expected || *expected > view.bytes.size())
    throw_internal(std::string("dequantize_rows: ") + dtype_name(view.dtype) + " tensor view is shorter than its shape");
  const uint64_t rb = *row_bytes(view.dtype, cols);
  const uint8_t* base = view.bytes.data();
  const int64_t n = (row_end - row_begin) * cols;
  const uint8_t* src = base + (view.dtype == DType::AprQ8 ? 4 : 0) + static_cast<uint64_t>(row_begin) * rb;

  switch (view.dtype) {
    case DType::F32:
      std::memcpy(out, src, n * sizeof(float));
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = aprc_f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = aprc_bf16_to_f32(h);
      }
      return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      return;
    case DType::AprQ8: {
      float scale;
      std::memcpy(&scale, base, 4);
      for (int64_t i = 0; i < n; ++i) out[i] = scale * static_cast<float>(static_cast<int8_t>(src[i]));
      return;
    }
    case DType::FP8_E4M3: {
      const uint8_t* scales = base + static_cast<uint64_t>(view.rows()) * cols;
      for (int64_t r = row_begin; r < row_end; ++r) {
        float scale;
        std::memcpy(&scale, scales + 4 * (view.scales == ScaleGranularity::PerChannel ? r : 0), 4);
        const uint8_t* q = base + static_cast<uint64_t>(r) * cols;
        float* o = out + (r - row_begin) * cols;
        for (int64_t c = 0; c < cols; ++c) o[c] = scale * aprc_fp8e4m3_to_f32(q[c]);
      }
      return;
    }
    default:
      break;
  }

  // Block formats: blocks are contiguous across rows, so dequantize block after block.
  const FormatInfo& f = format_info(view.dtype);
  const int64_t blocks = n / f.block_weights;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = src + b * f.block_bytes;
    float* o = out + b * f.block_weights;
    switch (view.dtype) {
      case DType::Q8_0: {
        aprc_block_q8_0 x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_q8_0(&x, o);
        break;
      }
      case DType::Q5_0: {
        aprc_block_q5_0 x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_q5_0(&x, o);
        break;
      }
      case DType::Q4_K: {
        aprc_block_q4_k x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_q4_k(&x, o);
        break;
      }
      case DType::Q5_K: {
        aprc_block_q5_k x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_q5_k(&x, o);
        break;
      }
      case DType::Q6_K: {
        aprc_block_q6_k x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_q6_k(&x, o);
        break;
      }
      case DType::AprQ4: {
        aprc_block_aprq4 x;
        std::memcpy(&x, blk, sizeof x);
        aprc_dequant_aprq4(&x, o);
        break;
      }
      default:
        throw_bad_input(std::string("cannot read tensors of dtype ") + f.name + " as weights");
    }
  }
}

std::vector<float> dequantize(const TensorView& view) {
  std::vector<float> out(static_cast<size_t>(view.rows() * view.cols()));
  dequantize_rows(view, 0, view.rows(), out.data());
  return out;
}

float f16_to_f32(uint16_t h) { return aprc_f16_to_f32(h); }
float bf16_to_f32(uint16_t h) { return aprc_bf16_to_f32(h); }
float fp8e4m3_to_f32(uint8_t b) { return aprc_fp8e4m3_to_f32(b); }

}  // namespace aprc
