// Emits the IR that reads one weight tensor, for every (encoding, layout) aprc stores: the block
// formats' bit unpacking written as vector code. Everything that dequantizes a weight inside a
// generated CPU kernel goes through here, so each format's decoding exists once.
//
// Two shapes of reading:
//  - row_major, lanes = columns: unit u of a row gives the row's columns [u*W, u*W + W) as
//    vectors of 16 floats (W = unit_cols(): the block for block formats, 16 for plain ones).
//  - cpu_r16, lanes = rows: unit u of a 16-row group gives, for each of its W columns, one vector
//    holding that column of the 16 rows.
#pragma once

#include "aprc/kernel_spec.h"
#include "kernel_builder.h"

namespace aprc::cpu {

class WeightReader {
 public:
  // `bytes`: an i8 view of the tensor as the layout stores it.
  WeightReader(KB& kb, const WeightDesc& desc, Value bytes);

  const WeightDesc& desc() const { return d_; }
  bool r16() const { return d_.layout == WeightLayout::CpuR16; }
  int64_t unit_cols() const { return unit_; }
  // Whole units per row; plain formats may end with a partial unit of tail_cols() columns.
  int64_t full_units() const { return d_.cols / unit_; }
  int64_t tail_cols() const { return d_.cols % unit_; }

  // row_major. `emit(c, v)`: v = columns [u*W + c, u*W + c + 16) of `row`. With `tail`, the unit
  // is the partial last one (plain formats only): lanes past tail_cols() read as 0.
  using RowEmit = std::function<void(int64_t c, Value v)>;
  void row_unit(Value row, Value unit, const RowEmit& emit, bool tail = false);

  // cpu_r16. `emit(c, v)`: v[r] = weight (16*group + r, unit*W + c); c is an index value (the
  // columns of a unit are visited in loops, not unrolled).
  using GroupEmit = std::function<void(Value c, Value v)>;
  void group_unit(Value group, Value unit, const GroupEmit& emit);

  // cpu_r16 matrix-vector product of one unit: sum_c column_c * x[k0 + c] (x: f32 view, k0: index
  // of the unit's first column in x) accumulated into `acc` (vector<16xf32>, lanes = rows).
  // `xsum`: f32 view of x summed over each run of 16 columns (xsum[k / 16]), for the formats whose
  // offsets (mins, -32, -16) factor out of the sum.
  Value group_unit_dot(Value group, Value unit, Value x, Value k0, Value xsum, Value acc);

  // cpu_r16 matrix-vector product through bf16 dot products (vdpbf16ps: two products a lane per
  // instruction and no integer-to-float conversions). A code q becomes the bf16 value 128 + q
  // (exact: 8 significant bits); x comes split in two bf16 halves x = hi + lo (16 significant
  // bits, relative error below 2^-16), packed in column pairs: xhi[c / 2], xlo[c / 2] (i32 views);
  // the 128 offset is taken back with xsum, the 16-column sums of hi + lo. Same contract as
  // group_unit_dot otherwise; for bf16_dot_supported() formats.
  static bool bf16_dot_supported(DType dt) { return dt == DType::Q4_K || dt == DType::Q6_K || dt == DType::Q5_0; }
  Value group_unit_dot_bf16(Value group, Value unit, Value xhi, Value xlo, Value k0, Value xsum, Value acc);

  // cpu_r16 with int8 activations (u8 = a + 128, multiplied by s8 weight codes with vpdpbusd).
  // Unit u of group g becomes, for each scale group of int8_group_cols() columns, that many / 4
  // steps, each a 64-byte s8 operand holding 4 consecutive columns of the 16 rows (row-major: byte
  // 4r + c), stored at ops[(gi * steps + step) * 64]; and per scale group gi: scales[gi*16..]
  // (f32, the value of code 1 in each row), inits[gi*16..] (i32, -128 * the group's code sum per
  // row, which cancels the activations' +128 bias) and for q4_k mins[gi*16..] (f32, dmin * m,
  // multiplied by the group's sum of x). gi counts from grp0 (an index value).
  int64_t int8_group_cols() const { return d_.dtype == DType::Q6_K ? 16 : 32; }
  bool int8_has_mins() const { return d_.dtype == DType::Q4_K; }
  void group_unit_int8(Value group, Value unit, Value grp0, Value ops, Value scales, Value inits, Value mins);

  // cpu_r16: the matrix-vector readers hint the bytes `distance` past the tile they read (tiles of
  // a chunk are contiguous, so this is the stream they read next), spread over their steps so
  // that the hints never crowd out the loads. 0: no hints.
  void set_prefetch_distance(int64_t distance) { prefetch_distance_ = distance; }
  // cpu_r16: prefetch hints for the first `bytes` of group g's tiles.
  void prefetch_bytes(Value group, int64_t bytes);

  // 1-D weights (gamma, biases) of plain formats: elements [i, i + 16) as f32, masked lanes 0.
  Value vector16(Value i, Value mask);

 private:
  Value row_unit_offset(Value row, Value unit);  // byte offset of a row_major unit
  Value tile_offset(Value group, Value unit);    // byte offset of a cpu_r16 tile
  Value f16s(Value byte_off, int64_t n);         // n f16 at byte_off, as f32
  Value bytes_i32(Value byte_off, int64_t n, bool sign);  // n bytes widened to i32
  Value fp8_to_f32(Value bytes16);
  Value fp8_scale(Value row);
  void prefetch_part(Value tile_off, int part, int parts);  // the part-th of `parts` slices
  std::pair<Value, Value> q5_0_codes4(Value tile_off, int j);

  KB& kb_;
  WeightDesc d_;
  Value bytes_;
  int64_t unit_ = 16;
  int64_t unit_bytes_ = 0;
  int64_t prefetch_distance_ = 0;
};

}  // namespace aprc::cpu
