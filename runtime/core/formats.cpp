#include "aprc/formats/formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"
#include "aprc/formats/quantize_blocks.h"

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

// ---------------------------------------------------------------------------------------------
// Scalar conversions, round to nearest even.
// ---------------------------------------------------------------------------------------------

uint16_t f32_to_f16(float f) {
  const uint32_t x = aprc_f32_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u);  // NaN stays NaN
  const int exp = static_cast<int>(abs >> 23) - 127;
  if (exp > 15) return sign | 0x7c00u;  // beyond the largest finite half (rounding below may also reach it)
  if (exp >= -14) {
    // Normal half: keep 10 of the 23 mantissa bits, round the 13 dropped ones to nearest even. A carry
    // out of the mantissa correctly bumps the exponent (and 65520 and up become infinity).
    uint32_t h = ((static_cast<uint32_t>(exp + 15) << 10) | ((abs >> 13) & 0x3ffu));
    const uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -25) return sign;  // below half the smallest subnormal: rounds to zero
  // Subnormal half: value = m * 2^-24 with m the mantissa (implicit bit included) shifted down.
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const int shift = -exp - 1;  // 14..24: bits to drop so that one unit is 2^-24
  uint32_t h = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

uint16_t f32_to_bf16(float f) {
  const uint32_t x = aprc_f32_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

uint8_t f32_to_fp8e4m3(float f) { return aprc_f32_to_fp8e4m3(f); }
float fp8e4m3_hi_lo(float v) { return aprc_fp8e4m3_hi_lo(v); }

void fp8_per_token_row(float* x, int64_t n) {
  float amax = 0;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float scale = amax / 448.0f, inv = scale > 0 ? 1.0f / scale : 0.0f;
  for (int64_t i = 0; i < n; ++i) x[i] = aprc_fp8e4m3_hi_lo(x[i] * inv) * scale;
}

namespace {

// The block quantizers are in quantize_blocks.cpp; the K-quants with their error-minimizing search.
void q4_k(const float* x, aprc_block_q4_k* b) { quantize_block_q4_k(x, b); }
void q5_k(const float* x, aprc_block_q5_k* b) { quantize_block_q5_k(x, b); }
void q6_k(const float* x, aprc_block_q6_k* b) { quantize_block_q6_k(x, b); }

template <class Block, void (*Quantize)(const float*, Block*)>
void quantize_blocks(const float* src, int64_t n, int block_weights, uint8_t* dst) {
  for (int64_t k = 0; k < n / block_weights; ++k) {
    Block b;
    Quantize(src + k * block_weights, &b);
    std::memcpy(dst + k * sizeof(Block), &b, sizeof(Block));
  }
}

}  // namespace

void quantize_row(DType dtype, const float* src, int64_t n, uint8_t* dst) {
  const FormatInfo& f = format_info(dtype);
  if (n < 0 || n % f.block_weights != 0)
    throw_internal(std::string("quantize_row: ") + std::to_string(n) + " weights are not whole " + f.name + " blocks");
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::Q8_0: return quantize_blocks<aprc_block_q8_0, quantize_block_q8_0>(src, n, f.block_weights, dst);
    case DType::Q5_0: return quantize_blocks<aprc_block_q5_0, quantize_block_q5_0>(src, n, f.block_weights, dst);
    case DType::Q4_K: return quantize_blocks<aprc_block_q4_k, q4_k>(src, n, f.block_weights, dst);
    case DType::Q5_K: return quantize_blocks<aprc_block_q5_k, q5_k>(src, n, f.block_weights, dst);
    case DType::Q6_K: return quantize_blocks<aprc_block_q6_k, q6_k>(src, n, f.block_weights, dst);
    case DType::AprQ4: return quantize_blocks<aprc_block_aprq4, quantize_block_aprq4>(src, n, f.block_weights, dst);
    default:
      throw_internal(std::string("quantize_row: cannot quantize a row to ") + f.name +
                     (dtype == DType::AprQ8 || dtype == DType::FP8_E4M3 ? " (use quantize_tensor)" : ""));
  }
}

std::vector<uint8_t> quantize_tensor(DType dtype, const float* src, int64_t rows, int64_t cols,
                                     ScaleGranularity scales) {
  const int64_t shape[2] = {rows, cols};
  const auto total = tensor_bytes(dtype, shape, scales);
  if (rows < 0 || !total)
    throw_internal(std::string("quantize_tensor: shape [") + std::to_string(rows) + ", " + std::to_string(cols) +
                   "] cannot be stored as " + dtype_name(dtype));
  std::vector<uint8_t> out(*total);
  const uint64_t count = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  if (dtype == DType::AprQ8) {
    // One f32 scale for the whole tensor, then int8 values.
    float m = 0;
    for (uint64_t i = 0; i < count; ++i) m = std::max(m, std::fabs(src[i]));
    const float scale = m / 127.0f;
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    std::memcpy(out.data(), &scale, 4);
    for (uint64_t i = 0; i < count; ++i) out[4 + i] = static_cast<uint8_t>(static_cast<int8_t>(round_clamp(src[i] * inv, -127, 127)));
    return out;
  }
  if (dtype == DType::FP8_E4M3) {
    // e4m3 bytes row-major, then the f32 scales (one per row, or one), each mapping amax onto 448.
    const int64_t n_scales = scales == ScaleGranularity::PerChannel ? rows : 1;
    std::vector<float> scale(static_cast<size_t>(n_scales), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      float& s = scale[scales == ScaleGranularity::PerChannel ? r : 0];
      for (int64_t c = 0; c < cols; ++c) s = std::max(s, std::fabs(src[r * cols + c]));
    }
    for (float& s : scale) s /= 448.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float s = scale[scales == ScaleGranularity::PerChannel ? r : 0];
      const float inv = s > 0 ? 1.0f / s : 0.0f;
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = f32_to_fp8e4m3(src[r * cols + c] * inv);
    }
    std::memcpy(out.data() + count, scale.data(), scale.size() * 4);
    return out;
  }
  const uint64_t rb = *row_bytes(dtype, cols);
  for (int64_t r = 0; r < rows; ++r) quantize_row(dtype, src + r * cols, cols, out.data() + r * rb);
  return out;
}

}  // namespace aprc
