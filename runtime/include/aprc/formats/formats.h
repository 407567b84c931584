// The host-side table of tensor formats: names, block sizes, byte sizes, and row dequantization /
// quantization for every dtype aprc reads or writes. The block layouts themselves live in blocks.h,
// shared with the generated CUDA code; nothing else in aprc knows a block size.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aprc {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I32,
  I64,
  I8,
  U8,
  Q8_0,
  Q5_0,
  Q4_K,
  Q5_K,
  Q6_K,
  AprQ4,     // APR dtype 128: blocks of 32, f16 scale, (q - 8) * scale
  AprQ8,     // APR dtype 129: one f32 scale for the tensor, then int8 values
  FP8_E4M3,  // aprc's fp8 weights: e4m3 bytes row-major, then f32 scales (per row or one)
};

// How an fp8 tensor is scaled; ignored for every other dtype.
enum class ScaleGranularity : uint8_t { PerChannel, PerTensor };

struct FormatInfo {
  DType dtype;
  const char* name;      // "q4_k", "f32", ... (the spelling used in the IR and in --json output)
  int block_weights;     // weights per block (1 for plain scalar types)
  int block_bytes;       // bytes per block
  bool is_float_weight;  // usable as a weight (all but the integer types)
};

const FormatInfo& format_info(DType dtype);
const char* dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of one row of `n` weights. Returns nullopt when n is not a whole number of blocks
// (callers turn that into an error naming the tensor).
std::optional<uint64_t> row_bytes(DType dtype, int64_t n);

// Bytes of a whole tensor of `shape` (outermost first), including the per-tensor header of AprQ8
// and the scales of FP8. nullopt when the innermost dim is not a whole number of blocks or the
// size overflows.
std::optional<uint64_t> tensor_bytes(DType dtype, std::span<const int64_t> shape,
                                     ScaleGranularity scales = ScaleGranularity::PerChannel);

// A tensor's bytes as stored, with enough context to read any of its rows.
struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first; a 1-D tensor is one row
  std::span<const uint8_t> bytes;
  ScaleGranularity scales = ScaleGranularity::PerChannel;

  int64_t rows() const;  // product of all but the innermost dim (1 for 1-D)
  int64_t cols() const;  // innermost dim
};

// Dequantizes rows [row_begin, row_end) of `view` into `out` ((row_end - row_begin) * cols floats).
void dequantize_rows(const TensorView& view, int64_t row_begin, int64_t row_end, float* out);

// Dequantizes the whole tensor.
std::vector<float> dequantize(const TensorView& view);

// Quantizes `n` floats (a whole number of blocks) into one row of `dtype`. Supported for F32, F16,
// BF16, Q8_0, Q5_0, Q4_K, Q5_K, Q6_K, AprQ4. AprQ8 and FP8_E4M3 carry tensor-level scales: use
// quantize_tensor for them.
void quantize_row(DType dtype, const float* src, int64_t n, uint8_t* dst);

// Quantizes a whole [rows, cols] tensor into `dtype`; the result is tensor_bytes(dtype, ...) long.
std::vector<uint8_t> quantize_tensor(DType dtype, const float* src, int64_t rows, int64_t cols,
                                     ScaleGranularity scales = ScaleGranularity::PerChannel);

// Scalar conversions for hosts (the device side uses blocks.h directly).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even
float fp8e4m3_to_f32(uint8_t b);
uint8_t f32_to_fp8e4m3(float f);  // round to nearest even, saturating at +-448
float fp8e4m3_hi_lo(float v);      // a per-token fp8 activation's two e4m3 terms, summed (blocks.h)

// One token's row of per-token fp8 activations (aprc.fp8_per_token_activations), in place: the scale
// max|x| / 448, each value times 1 / scale as its two e4m3 terms (fp8e4m3_hi_lo), times the scale.
void fp8_per_token_row(float* x, int64_t n);

}  // namespace aprc
