#include "weight_reader.h"

#include <array>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"

namespace aprc::cpu {

using mlir::arith::CmpIPredicate;

namespace {

// A constant of the type of `like` (an integer scalar or vector).
Value const_like(KB& k, Value like, int64_t v) {
  if (auto vt = mlir::dyn_cast<VectorType>(like.getType())) return k.vconst_i(v, vt.getNumElements(), vt.getElementType());
  return k.cint(v, like.getType());
}

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block, from its 12 packed scale
// bytes s[0..11] widened to i32 (scalars, or vectors holding 16 rows): aprc_k_scale_min.
std::pair<Value, Value> k_scale_min(KB& k, const Value* s, int j) {
  auto c = [&](int64_t v) { return const_like(k, s[0], v); };
  if (j < 4) return {k.band(s[j], c(63)), k.band(s[j + 4], c(63))};
  return {k.bor(k.band(s[j + 4], c(15)), k.shl(k.shru(s[j - 4], c(6)), c(4))),
          k.bor(k.shru(s[j + 4], c(4)), k.shl(k.shru(s[j], c(6)), c(4)))};
}

// The four 6-bit Q6_K codes (0..63) that one ql pair and one qh byte hold: the weights l, l+32,
// l+64, l+96 of a half (aprc_dequant_q6_k), for vectors of bytes (as i8, or widened to i32).
std::array<Value, 4> q6_codes(KB& k, Value qla, Value qlb, Value qh) {
  auto c = [&](int64_t v) { return const_like(k, qla, v); };
  return {k.bor(k.band(qla, c(15)), k.shl(k.band(qh, c(3)), c(4))),
          k.bor(k.band(qlb, c(15)), k.shl(k.band(qh, c(12)), c(2))),
          k.bor(k.shru(qla, c(4)), k.band(qh, c(48))),
          k.bor(k.shru(qlb, c(4)), k.shru(k.band(qh, c(192)), c(2)))};
}

}  // namespace

WeightReader::WeightReader(KB& kb, const WeightDesc& desc, Value bytes) : kb_(kb), d_(desc), bytes_(bytes) {
  const FormatInfo& f = format_info(desc.dtype);
  if (!f.is_float_weight || desc.dtype == DType::F64)
    throw_internal(std::string("cpu codegen: cannot read weights of dtype ") + f.name);
  if (!layout_supports(desc.layout, desc.dtype))
    throw_internal(std::string("cpu codegen: layout ") + layout_name(desc.layout) + " does not hold " + f.name);
  if (f.block_weights > 1) {
    unit_ = f.block_weights;
    unit_bytes_ = f.block_bytes;
  }
  if (desc.cols % f.block_weights != 0)
    throw_internal(std::string("cpu codegen: ") + f.name + " row of " + std::to_string(desc.cols) + " columns");
}

Value WeightReader::row_unit_offset(Value row, Value unit) {
  auto& k = kb_;
  const int64_t rb = int64_t(*row_bytes(d_.dtype, d_.cols));
  Value off = k.add(k.mul(row, k.ci(rb)), k.mul(unit, k.ci(unit_bytes_ ? unit_bytes_ : unit_ * format_info(d_.dtype).block_bytes)));
  if (d_.dtype == DType::AprQ8) off = k.add(off, k.ci(4));  // the tensor's f32 scale comes first
  return off;
}

Value WeightReader::tile_offset(Value group, Value unit) {
  auto& k = kb_;
  const int64_t tile = 16 * unit_bytes_;
  return k.mul(k.add(k.mul(group, k.ci(full_units())), unit), k.ci(tile));
}

void WeightReader::prefetch_part(Value tile_off, int part, int parts) {
  if (!prefetch_distance_) return;
  const int64_t lines = (16 * unit_bytes_ + 63) / 64;
  for (int64_t line = lines * part / parts; line < lines * (part + 1) / parts; ++line)
    kb_.prefetch(bytes_, kb_.add(tile_off, kb_.ci(prefetch_distance_ + 64 * line)));
}

void WeightReader::prefetch_bytes(Value group, int64_t bytes) {
  Value off = tile_offset(group, kb_.ci(0));
  for (int64_t line = 0; line < bytes; line += 64) kb_.prefetch(bytes_, kb_.add(off, kb_.ci(line)));
}

Value WeightReader::f16s(Value byte_off, int64_t n) {
  return kb_.extf(kb_.load_bytes_as(bytes_, byte_off, kb_.f16, n), kb_.f32);
}

Value WeightReader::bytes_i32(Value byte_off, int64_t n, bool sign) {
  Value v = kb_.vload(bytes_, byte_off, n);
  return sign ? kb_.sext(v, kb_.i32) : kb_.zext(v, kb_.i32);
}

// OCP e4m3fn bytes -> f32, bit by bit as aprc_fp8e4m3_to_f32: normal numbers move exponent and
// mantissa into place, subnormals are man * 2^-9, S.1111.111 is NaN.
Value WeightReader::fp8_to_f32(Value bytes16) {
  auto& k = kb_;
  auto c = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  Value b = k.zext(bytes16, k.i32);
  Value sign = k.shl(k.band(b, c(0x80)), c(24));
  Value e = k.band(k.shru(b, c(3)), c(15));
  Value m = k.band(b, c(7));
  Value normal = k.bor(sign, k.bor(k.shl(k.add(e, c(120)), c(23)), k.shl(m, c(20))));
  Value sub = k.mul(k.sitofp(m, k.f32), k.vconst_f(0.001953125, 16));
  sub = k.bitcast(k.bor(k.bitcast(sub, k.i32), sign), k.f32);
  Value nan = k.bitcast(k.bor(sign, c(0x7fc00000)), k.f32);
  Value v = k.select(k.cmp(CmpIPredicate::eq, e, c(0)), sub, k.bitcast(normal, k.f32));
  Value is_nan = k.band(k.cmp(CmpIPredicate::eq, e, c(15)), k.cmp(CmpIPredicate::eq, m, c(7)));
  return k.select(is_nan, nan, v);
}

Value WeightReader::fp8_scale(Value row) {
  auto& k = kb_;
  Value at = k.ci(d_.rows * d_.cols);
  if (d_.scales == ScaleGranularity::PerChannel) at = k.add(at, k.mul(row, k.ci(4)));
  return k.splat(k.extract(k.load_bytes_as(bytes_, at, k.f32, 1), 0), 16);
}

Value WeightReader::vector16(Value i, Value mask) {
  auto& k = kb_;
  Value zero16 = k.vconst_i(0, 16, k.i16);
  switch (d_.dtype) {
    case DType::F32: {
      auto view = k.b.create<mlir::memref::ViewOp>(
          mlir::MemRefType::get({mlir::ShapedType::kDynamic}, k.f32), bytes_, k.ci(0),
          mlir::ValueRange{k.ci(d_.rows * d_.cols)});
      return k.vload_masked(view, i, mask, k.vconst_f(0, 16));
    }
    case DType::F16:
    case DType::BF16: {
      auto view = k.b.create<mlir::memref::ViewOp>(
          mlir::MemRefType::get({mlir::ShapedType::kDynamic}, k.i16), bytes_, k.ci(0),
          mlir::ValueRange{k.ci(d_.rows * d_.cols)});
      Value h = k.vload_masked(view, i, mask, zero16);
      if (d_.dtype == DType::F16) return k.extf(k.bitcast(h, k.f16), k.f32);
      return k.bitcast(k.shl(k.zext(h, k.i32), k.vconst_i(16, 16, k.i32)), k.f32);
    }
    default:
      throw_internal(std::string("cpu codegen: norm and bias vectors must be f32, f16 or bf16, not ") +
                     dtype_name(d_.dtype));
  }
}

void WeightReader::row_unit(Value row, Value unit, const RowEmit& emit, bool tail) {
  auto& k = kb_;
  auto ci32 = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  const int64_t n_tail = tail ? tail_cols() : 16;
  switch (d_.dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::FP8_E4M3:
    case DType::AprQ8: {
      // Element index of column unit*16 in this row; a partial unit loads only its columns.
      Value elem = k.add(k.mul(row, k.ci(d_.cols)), k.mul(unit, k.ci(16)));
      const int64_t esize = d_.dtype == DType::F32 ? 4 : (d_.dtype == DType::F16 || d_.dtype == DType::BF16) ? 2 : 1;
      Value off = k.mul(elem, k.ci(esize));
      if (d_.dtype == DType::AprQ8) off = k.add(off, k.ci(4));
      // Masked loads only for the tail; full units read 16 elements straight.
      auto load_bytes = [&](int64_t n) -> Value {
        if (!tail) return k.vload(bytes_, off, n);
        // a byte mask covering n_tail elements of esize bytes
        Value bm = k.lane_mask(k.ci(0), k.ci(n_tail * esize), n);
        return k.vload_masked(bytes_, off, bm, k.vconst_i(0, n, k.i8));
      };
      Value raw = load_bytes(16 * esize);
      Value v;
      if (d_.dtype == DType::F32) v = k.vbitcast(raw, k.vec(16, k.f32));
      else if (d_.dtype == DType::F16) v = k.extf(k.vbitcast(raw, k.vec(16, k.f16)), k.f32);
      else if (d_.dtype == DType::BF16)
        v = k.bitcast(k.shl(k.zext(k.vbitcast(raw, k.vec(16, k.i16)), k.i32), ci32(16)), k.f32);
      else if (d_.dtype == DType::FP8_E4M3) v = k.mul(fp8_to_f32(raw), fp8_scale(row));
      else {
        Value scale = k.splat(k.extract(k.load_bytes_as(bytes_, k.ci(0), k.f32, 1), 0), 16);
        v = k.mul(k.sitofp(k.sext(raw, k.i32), k.f32), scale);
      }
      emit(0, v);
      return;
    }
    case DType::Q8_0: {
      Value off = row_unit_offset(row, unit);
      Value d = k.splat(k.extract(f16s(off, 1), 0), 16);
      for (int h = 0; h < 2; ++h)
        emit(16 * h, k.mul(k.sitofp(bytes_i32(k.add(off, k.ci(2 + 16 * h)), 16, true), k.f32), d));
      return;
    }
    case DType::Q5_0: {
      Value off = row_unit_offset(row, unit);
      Value d = k.splat(k.extract(f16s(off, 1), 0), 16);
      Value qh = k.splat(k.extract(k.load_bytes_as(bytes_, k.add(off, k.ci(2)), k.i32, 1), 0), 16);
      Value qs = bytes_i32(k.add(off, k.ci(6)), 16, false);
      Value lanes = k.iota(16, k.i32);
      for (int h = 0; h < 2; ++h) {
        Value nib = h == 0 ? k.band(qs, ci32(15)) : k.shru(qs, ci32(4));
        Value bit = k.band(k.shru(qh, k.add(lanes, ci32(16 * h))), ci32(1));
        Value q = k.sub(k.bor(nib, k.shl(bit, ci32(4))), ci32(16));
        emit(16 * h, k.mul(k.sitofp(q, k.f32), d));
      }
      return;
    }
    case DType::AprQ4: {
      Value off = row_unit_offset(row, unit);
      Value d = k.splat(k.extract(f16s(off, 1), 0), 16);
      Value qs = bytes_i32(k.add(off, k.ci(2)), 16, false);
      Value lo = k.band(qs, ci32(15)), hi = k.shru(qs, ci32(4));
      // element 2i is the low nibble of byte i, element 2i+1 the high one
      for (int h = 0; h < 2; ++h) {
        llvm::SmallVector<int64_t> mask;
        for (int i = 0; i < 8; ++i) {
          mask.push_back(8 * h + i);
          mask.push_back(16 + 8 * h + i);
        }
        Value q = k.sub(k.shuffle(lo, hi, mask), ci32(8));
        emit(16 * h, k.mul(k.sitofp(q, k.f32), d));
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool q5 = d_.dtype == DType::Q5_K;
      Value off = row_unit_offset(row, unit);
      Value dd = f16s(off, 2);
      Value d = k.extract(dd, 0), dmin = k.extract(dd, 1);
      Value sc = k.zext(k.vload(bytes_, k.add(off, k.ci(4)), 16), k.i32);  // 12 bytes used
      Value s[12];
      for (int i = 0; i < 12; ++i) s[i] = k.extract(sc, i);
      Value qh = q5 ? bytes_i32(k.add(off, k.ci(16)), 16, false) : Value();
      Value qh2 = q5 ? bytes_i32(k.add(off, k.ci(32)), 16, false) : Value();
      const int64_t qs_at = q5 ? 48 : 16;
      for (int c = 0; c < 4; ++c) {
        for (int half = 0; half < 2; ++half) {
          const int j = 2 * c + half;
          auto [scale, min] = k_scale_min(k, s, j);
          Value ds = k.splat(k.mul(d, k.sitofp(scale, k.f32)), 16);
          Value dm = k.splat(k.mul(dmin, k.sitofp(min, k.f32)), 16);
          for (int l0 = 0; l0 < 32; l0 += 16) {
            Value q = bytes_i32(k.add(off, k.ci(qs_at + 32 * c + l0)), 16, false);
            q = half == 0 ? k.band(q, ci32(15)) : k.shru(q, ci32(4));
            if (q5) {
              Value hb = l0 == 0 ? qh : qh2;
              q = k.bor(q, k.shl(k.band(k.shru(hb, ci32(j)), ci32(1)), ci32(4)));
            }
            emit(64 * c + 32 * half + l0, k.sub(k.mul(k.sitofp(q, k.f32), ds), dm));
          }
        }
      }
      return;
    }
    case DType::Q6_K: {
      Value off = row_unit_offset(row, unit);
      Value d = k.extract(f16s(k.add(off, k.ci(208)), 1), 0);
      Value sc = k.sitofp(bytes_i32(k.add(off, k.ci(192)), 16, true), k.f32);
      for (int h = 0; h < 2; ++h)
        for (int l0 = 0; l0 < 32; l0 += 16) {
          Value qla = bytes_i32(k.add(off, k.ci(64 * h + l0)), 16, false);
          Value qlb = bytes_i32(k.add(off, k.ci(64 * h + l0 + 32)), 16, false);
          Value qh = bytes_i32(k.add(off, k.ci(128 + 32 * h + l0)), 16, false);
          std::array<Value, 4> q = q6_codes(k, qla, qlb, qh);
          for (int qi = 0; qi < 4; ++qi) {
            Value scale = k.splat(k.mul(d, k.extract(sc, 8 * h + l0 / 16 + 2 * qi)), 16);
            emit(128 * h + 32 * qi + l0, k.mul(k.sitofp(k.sub(q[qi], ci32(32)), k.f32), scale));
          }
        }
      return;
    }
    default:
      break;
  }
  throw_internal(std::string("cpu codegen: no row reader for ") + dtype_name(d_.dtype));
}

namespace {
// Offsets of the fields inside a cpu_r16 tile (see formats/layouts.h).
constexpr int64_t kQ8Qs = 32;
constexpr int64_t kQ5Qh = 32, kQ5Qs = 96;
constexpr int64_t kQ4Dmin = 32, kQ4Sc = 64, kQ4Qs = 256;
constexpr int64_t kQ6Qh = 2048, kQ6Sc = 3072, kQ6D = 3328;
}  // namespace

void WeightReader::group_unit(Value group, Value unit, const GroupEmit& emit) {
  auto& k = kb_;
  auto ci32 = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  Value off = tile_offset(group, unit);
  auto at = [&](int64_t o) { return k.add(off, k.ci(o)); };
  // bytes of field element i (index value) for the 16 rows, widened to i32
  auto codes = [&](int64_t field, Value i, bool sign) { return bytes_i32(k.add(at(field), k.mul(i, k.ci(16))), 16, sign); };
  auto col = [&](Value i, int64_t plus) { return k.add(i, k.ci(plus)); };
  switch (d_.dtype) {
    case DType::Q8_0: {
      Value d = f16s(off, 16);
      k.for_(k.ci(0), k.ci(32), k.ci(1), [&](Value j) { emit(j, k.mul(k.sitofp(codes(kQ8Qs, j, true), k.f32), d)); });
      return;
    }
    case DType::Q5_0: {
      Value d = f16s(off, 16);
      k.for_(k.ci(0), k.ci(16), k.ci(1), [&](Value j) {
        Value qs = codes(kQ5Qs, j, false);
        auto mask = [&](int64_t plus) {
          return k.vbitcast(k.vload(bytes_, k.add(at(kQ5Qh + 2 * plus), k.mul(j, k.ci(2))), 2), k.vec(16, k.i1));
        };
        Value lo = k.band(qs, ci32(15)), hi = k.shru(qs, ci32(4));
        lo = k.select(mask(0), k.bor(lo, ci32(16)), lo);
        hi = k.select(mask(16), k.bor(hi, ci32(16)), hi);
        emit(j, k.mul(k.sitofp(k.sub(lo, ci32(16)), k.f32), d));
        emit(col(j, 16), k.mul(k.sitofp(k.sub(hi, ci32(16)), k.f32), d));
      });
      return;
    }
    case DType::Q4_K: {
      Value d = f16s(off, 16), dmin = f16s(at(kQ4Dmin), 16);
      Value s[12];
      for (int i = 0; i < 12; ++i) s[i] = bytes_i32(at(kQ4Sc + 16 * i), 16, false);
      for (int c = 0; c < 4; ++c) {
        Value ds[2], dm[2];
        for (int half = 0; half < 2; ++half) {
          auto [scale, min] = k_scale_min(k, s, 2 * c + half);
          ds[half] = k.mul(d, k.sitofp(scale, k.f32));
          dm[half] = k.mul(dmin, k.sitofp(min, k.f32));
        }
        k.for_(k.ci(0), k.ci(32), k.ci(1), [&](Value l) {
          Value q = codes(kQ4Qs + 16 * 32 * c, l, false);
          emit(col(l, 64 * c), k.sub(k.mul(k.sitofp(k.band(q, ci32(15)), k.f32), ds[0]), dm[0]));
          emit(col(l, 64 * c + 32), k.sub(k.mul(k.sitofp(k.shru(q, ci32(4)), k.f32), ds[1]), dm[1]));
        });
      }
      return;
    }
    case DType::Q6_K: {
      Value d = f16s(at(kQ6D), 16);
      for (int h = 0; h < 2; ++h)
        for (int lh = 0; lh < 2; ++lh) {
          Value scale[4];
          for (int qi = 0; qi < 4; ++qi)
            scale[qi] = k.mul(d, k.sitofp(bytes_i32(at(kQ6Sc + 16 * (8 * h + lh + 2 * qi)), 16, true), k.f32));
          k.for_(k.ci(16 * lh), k.ci(16 * lh + 16), k.ci(1), [&](Value l) {
            std::array<Value, 4> q = q6_codes(k, codes(16 * 64 * h, l, false), codes(16 * (64 * h + 32), l, false),
                                              codes(kQ6Qh + 16 * 32 * h, l, false));
            for (int qi = 0; qi < 4; ++qi)
              emit(col(l, 128 * h + 32 * qi), k.mul(k.sitofp(k.sub(q[qi], ci32(32)), k.f32), scale[qi]));
          });
        }
      return;
    }
    default:
      break;
  }
  throw_internal(std::string("cpu codegen: no cpu_r16 reader for ") + dtype_name(d_.dtype));
}

// The 5-bit codes (0..31) of columns j..j+3 (lo) and j+16..j+19 (hi) of a q5_0 cpu_r16 tile at
// `off`, as 64 bytes each ([column][row]): 64 bytes of nibbles and two 64-bit lane masks.
std::pair<Value, Value> WeightReader::q5_0_codes4(Value off, int j) {
  auto& k = kb_;
  auto c8 = [&](int64_t v) { return k.vconst_i(v, 64, k.i8); };
  auto at = [&](int64_t o) { return k.add(off, k.ci(o)); };
  Value qs = k.vload(bytes_, at(kQ5Qs + 16 * j), 64);
  Value mlo = k.vbitcast(k.vload(bytes_, at(kQ5Qh + 2 * j), 8), k.vec(64, k.i1));
  Value mhi = k.vbitcast(k.vload(bytes_, at(kQ5Qh + 2 * (j + 16)), 8), k.vec(64, k.i1));
  Value lo = k.band(qs, c8(15)), hi = k.shru(qs, c8(4));
  return {k.select(mlo, k.bor(lo, c8(16)), lo), k.select(mhi, k.bor(hi, c8(16)), hi)};
}

void WeightReader::group_unit_int8(Value group, Value unit, Value grp0, Value ops, Value scales, Value inits,
                                   Value mins) {
  auto& k = kb_;
  Value off = tile_offset(group, unit);
  auto at = [&](int64_t o) { return k.add(off, k.ci(o)); };
  auto c8 = [&](int64_t v) { return k.vconst_i(v, 64, k.i8); };
  auto ci32 = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  const int64_t steps = int8_group_cols() / 4;
  // [column][row] bytes of 4 columns -> [row][column] (byte 4r + c), one vpermb
  llvm::SmallVector<int64_t> tmask;
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 4; ++c) tmask.push_back(16 * c + r);
  Value ones = c8(1);
  auto put = [&](int64_t gi, int64_t step, Value codes, Value& sum) {
    Value op = k.shuffle(codes, codes, tmask);
    Value gidx = k.add(grp0, k.ci(gi));
    k.vstore(op, ops, k.mul(k.add(k.mul(gidx, k.ci(steps)), k.ci(step)), k.ci(64)));
    sum = k.dot_u8s8(sum ? sum : ci32(0), ones, op);  // sum of the codes, 4 per lane
  };
  auto finish = [&](int64_t gi, Value sum, Value scale, Value min) {
    Value at16 = k.mul(k.add(grp0, k.ci(gi)), k.ci(16));
    k.vstore(k.mul(sum, ci32(-128)), inits, at16);
    k.vstore(scale, scales, at16);
    if (min) k.vstore(min, mins, at16);
  };
  switch (d_.dtype) {
    case DType::Q8_0: {
      Value sum;
      for (int s = 0; s < 8; ++s) put(0, s, k.vload(bytes_, at(kQ8Qs + 64 * s), 64), sum);
      finish(0, sum, f16s(off, 16), Value());
      return;
    }
    case DType::Q5_0: {
      Value sum;
      for (int j = 0; j < 16; j += 4) {
        // steps 0-3: columns j.. (low nibbles); steps 4-7: columns 16 + j.. (high nibbles)
        auto [lo, hi] = q5_0_codes4(off, j);
        put(0, j / 4, k.sub(lo, c8(16)), sum);
        put(0, 4 + j / 4, k.sub(hi, c8(16)), sum);
      }
      finish(0, sum, f16s(off, 16), Value());
      return;
    }
    case DType::Q4_K: {
      Value d = f16s(off, 16), dmin = f16s(at(kQ4Dmin), 16);
      Value sc[12];
      for (int i = 0; i < 12; ++i) sc[i] = bytes_i32(at(kQ4Sc + 16 * i), 16, false);
      for (int c = 0; c < 4; ++c) {
        Value sums[2];
        for (int s = 0; s < 8; ++s) {
          Value qs = k.vload(bytes_, at(kQ4Qs + 16 * (32 * c + 4 * s)), 64);
          put(2 * c, s, k.band(qs, c8(15)), sums[0]);
          put(2 * c + 1, s, k.band(k.shru(qs, c8(4)), c8(15)), sums[1]);
        }
        for (int half = 0; half < 2; ++half) {
          auto [scale, min] = k_scale_min(k, sc, 2 * c + half);
          finish(2 * c + half, sums[half], k.mul(d, k.sitofp(scale, k.f32)), k.mul(dmin, k.sitofp(min, k.f32)));
        }
      }
      return;
    }
    case DType::Q6_K: {
      Value d = f16s(at(kQ6D), 16);
      for (int h = 0; h < 2; ++h)
        for (int lh = 0; lh < 2; ++lh) {
          Value sums[4];
          for (int s = 0; s < 4; ++s) {
            const int l = 16 * lh + 4 * s;
            std::array<Value, 4> q = q6_codes(k, k.vload(bytes_, at(16 * (64 * h + l)), 64),
                                              k.vload(bytes_, at(16 * (64 * h + 32 + l)), 64),
                                              k.vload(bytes_, at(kQ6Qh + 16 * (32 * h + l)), 64));
            for (int qi = 0; qi < 4; ++qi) put(8 * h + lh + 2 * qi, s, k.sub(q[qi], c8(32)), sums[qi]);
          }
          for (int qi = 0; qi < 4; ++qi) {
            const int gi = 8 * h + lh + 2 * qi;
            Value scale = k.mul(d, k.sitofp(bytes_i32(at(kQ6Sc + 16 * gi), 16, true), k.f32));
            finish(gi, sums[qi], scale, Value());
          }
        }
      return;
    }
    default:
      break;
  }
  throw_internal(std::string("cpu codegen: no int8 cpu_r16 reader for ") + dtype_name(d_.dtype));
}

Value WeightReader::group_unit_dot_bf16(Value group, Value unit, Value xhi, Value xlo, Value k0, Value xsum, Value acc) {
  auto& k = kb_;
  auto c8 = [&](int64_t v) { return k.vconst_i(v, 64, k.i8); };
  Value off = tile_offset(group, unit);
  auto at = [&](int64_t o) { return k.add(off, k.ci(o)); };
  Value zero = k.vconst_f(0, 16);
  Value k0h = k.b.create<mlir::arith::DivUIOp>(k0, k.ci(2));
  Value k0s = k.b.create<mlir::arith::DivUIOp>(k0, k.ci(16));
  // x hi / lo halves of columns (col, col + 1) of the unit, in every lane
  auto xpair = [&](Value half, int64_t col) { return k.splat(k.load(half, k.add(k0h, k.ci(col / 2))), 16); };
  auto xs = [&](int64_t col) { return k.load(xsum, k.add(k0s, k.ci(col / 16))); };
  // bf16 pairs (128 + code of column ca, of column cb) for the 16 rows, from 64 code bytes that hold
  // 4 columns of 16 rows ([column][row]): one byte permute that also inserts 0x43, the high byte
  // of the bf16 values 128..255
  Value c43 = c8(0x43);
  auto pair = [&](Value codes, int ca, int cb) {
    llvm::SmallVector<int64_t> mask;
    for (int r = 0; r < 16; ++r) {
      mask.push_back(16 * ca + r);
      mask.push_back(64);
      mask.push_back(16 * cb + r);
      mask.push_back(64);
    }
    return k.vbitcast(k.shuffle(codes, c43, mask), k.vec(16, k.i32));
  };
  // 4 chains per call site: the two column pairs of 4 columns, times x's hi and lo halves
  auto dot4 = [&](Value* chains, Value codes, int64_t col) {
    for (int p = 0; p < 2; ++p) {
      Value w = pair(codes, 2 * p, 2 * p + 1);
      chains[2 * p] = k.dot_bf16(chains[2 * p], w, xpair(xhi, col + 2 * p));
      chains[2 * p + 1] = k.dot_bf16(chains[2 * p + 1], w, xpair(xlo, col + 2 * p));
    }
  };
  auto sum = [&](Value* chains, int n) {
    for (int w = n / 2; w >= 1; w /= 2)
      for (int i = 0; i < w; ++i) chains[i] = k.add(chains[i], chains[i + w]);
    return chains[0];
  };
  switch (d_.dtype) {
    case DType::Q5_0: {
      Value d = f16s(off, 16);
      Value ch[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
      for (int j = 0; j < 16; j += 4) {
        prefetch_part(off, j / 4, 4);
        auto [lo, hi] = q5_0_codes4(off, j);
        dot4(ch, lo, j);
        dot4(ch + 4, hi, j + 16);
      }
      // sum d (q - 16) x = d (S - 144 X), S the sum with the codes at 128 + q
      Value S = sum(ch, 8);
      Value X = k.add(xs(0), xs(16));
      return k.fma(k.add(S, k.splat(k.mul(k.cf(-144.0), X), 16)), d, acc);
    }
    case DType::Q4_K: {
      Value d = f16s(off, 16), dmin = f16s(at(kQ4Dmin), 16);
      Value sc[12];
      for (int i = 0; i < 12; ++i) sc[i] = bytes_i32(at(kQ4Sc + 16 * i), 16, false);
      Value tot = zero, offs = zero, mins = zero;
      for (int c = 0; c < 4; ++c) {
        Value ch[16];
        for (auto& v : ch) v = zero;
        for (int st = 0; st < 8; ++st) {
          prefetch_part(off, 8 * c + st, 32);
          Value qs = k.vload(bytes_, at(kQ4Qs + 16 * (32 * c + 4 * st)), 64);
          Value* even_odd = ch + 4 * (st % 2);
          dot4(even_odd, k.band(qs, c8(15)), 64 * c + 4 * st);
          dot4(even_odd + 8, k.shru(qs, c8(4)), 64 * c + 32 + 4 * st);
        }
        Value S[2] = {sum(ch, 8), sum(ch + 8, 8)};
        for (int half = 0; half < 2; ++half) {
          const int j = 2 * c + half;
          auto [scale, min] = k_scale_min(k, sc, j);
          Value scf = k.sitofp(scale, k.f32);
          Value X = k.splat(k.add(xs(32 * j), xs(32 * j + 16)), 16);
          tot = k.fma(S[half], scf, tot);
          offs = k.fma(X, scf, offs);
          mins = k.fma(X, k.sitofp(min, k.f32), mins);
        }
      }
      // sum (d sc q - dmin m) x = d (sum sc S - 128 sum sc X) - dmin sum m X
      return k.sub(k.fma(k.fma(offs, k.vconst_f(-128.0, 16), tot), d, acc), k.mul(mins, dmin));
    }
    case DType::Q6_K: {
      Value d = f16s(at(kQ6D), 16);
      Value tot = zero, offs = zero;
      for (int h = 0; h < 2; ++h)
        for (int lh = 0; lh < 2; ++lh) {
          Value ch[16];
          for (auto& v : ch) v = zero;
          for (int st = 0; st < 4; ++st) {
            prefetch_part(off, 8 * h + 4 * lh + st, 16);
            const int l = 16 * lh + 4 * st;
            std::array<Value, 4> q = q6_codes(k, k.vload(bytes_, at(16 * (64 * h + l)), 64),
                                              k.vload(bytes_, at(16 * (64 * h + 32 + l)), 64),
                                              k.vload(bytes_, at(kQ6Qh + 16 * (32 * h + l)), 64));
            for (int qi = 0; qi < 4; ++qi) dot4(ch + 4 * qi, q[qi], 128 * h + 32 * qi + l);
          }
          for (int qi = 0; qi < 4; ++qi) {
            const int i = 8 * h + lh + 2 * qi;  // the scale of columns 128h + 32qi + 16lh ..+16
            Value scf = k.sitofp(bytes_i32(at(kQ6Sc + 16 * i), 16, true), k.f32);
            tot = k.fma(sum(ch + 4 * qi, 4), scf, tot);
            offs = k.fma(k.splat(xs(128 * h + 32 * qi + 16 * lh), 16), scf, offs);
          }
        }
      // sum d sc (q - 32) x = d (sum sc S - 160 sum sc X)
      return k.fma(k.fma(offs, k.vconst_f(-160.0, 16), tot), d, acc);
    }
    default:
      break;
  }
  throw_internal(std::string("cpu codegen: no bf16 cpu_r16 matrix-vector reader for ") + dtype_name(d_.dtype));
}

Value WeightReader::group_unit_dot(Value group, Value unit, Value x, Value k0, Value xsum, Value acc) {
  auto& k = kb_;
  auto ci32 = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  Value off = tile_offset(group, unit);
  prefetch_part(off, 0, 1);
  auto at = [&](int64_t o) { return k.add(off, k.ci(o)); };
  auto xb = [&](Value col) { return k.splat(k.load(x, col), 16); };           // x[col] in every lane
  auto xs = [&](int64_t col) { return k.load(xsum, k.add(k.b.create<mlir::arith::DivUIOp>(k0, k.ci(16)), k.ci(col / 16))); };
  Value zero = k.vconst_f(0, 16);
  switch (d_.dtype) {
    case DType::Q8_0: {
      Value d = f16s(off, 16);
      // two chains so the additions overlap
      Values r = k.for_(k.ci(0), k.ci(32), k.ci(2), {zero, zero}, [&](Value j, mlir::ValueRange a) -> Values {
        Values out;
        for (int u = 0; u < 2; ++u) {
          Value jj = k.add(j, k.ci(u));
          Value q = k.sitofp(k.sext(k.vload(bytes_, k.add(at(kQ8Qs), k.mul(jj, k.ci(16))), 16), k.i32), k.f32);
          out.push_back(k.fma(q, xb(k.add(k0, jj)), a[u]));
        }
        return out;
      });
      return k.fma(k.add(r[0], r[1]), d, acc);
    }
    case DType::Q5_0: {
      // Four columns at a time on bytes: 64 bytes of nibbles and two 64-bit lane masks (their 5th
      // bits) give the 5-bit codes of columns j..j+3 and j+16..j+19; then each 16-byte slice is
      // widened, converted and multiplied.
      Value d = f16s(off, 16);
      Value acc8[8] = {zero, zero, zero, zero, zero, zero, zero, zero};  // 8 chains hide the FMA latency
      for (int j = 0; j < 16; j += 4) {
        auto [lo, hi] = q5_0_codes4(off, j);
        for (int c = 0; c < 4; ++c) {
          Value col = k.add(k0, k.ci(j + c));
          Value ql = k.sitofp(k.zext(k.slice(lo, 16 * c, 16), k.i32), k.f32);
          Value qh = k.sitofp(k.zext(k.slice(hi, 16 * c, 16), k.i32), k.f32);
          acc8[2 * c] = k.fma(ql, xb(col), acc8[2 * c]);
          acc8[2 * c + 1] = k.fma(qh, xb(k.add(col, k.ci(16))), acc8[2 * c + 1]);
        }
      }
      for (int w = 4; w >= 1; w /= 2)
        for (int i = 0; i < w; ++i) acc8[i] = k.add(acc8[i], acc8[i + w]);
      // sum_j d (q_j - 16) x_j = d (sum_j q_j x_j - 16 sum_j x_j)
      Value s = k.splat(k.mul(k.cf(-16.0), k.add(xs(0), xs(16))), 16);
      return k.fma(k.add(acc8[0], s), d, acc);
    }
    case DType::Q4_K: {
      Value d = f16s(off, 16), dmin = f16s(at(kQ4Dmin), 16);
      Value s[12];
      for (int i = 0; i < 12; ++i) s[i] = bytes_i32(at(kQ4Sc + 16 * i), 16, false);
      Value tot = zero, mins = zero;
      for (int c = 0; c < 4; ++c) {
        Value sc[2];
        for (int half = 0; half < 2; ++half) {
          const int j = 2 * c + half;
          auto [scale, min] = k_scale_min(k, s, j);
          sc[half] = k.sitofp(scale, k.f32);
          // sum over the sub-block of x, times its min (the -dmin*min term factors out)
          mins = k.fma(k.sitofp(min, k.f32), k.splat(k.add(xs(32 * j), xs(32 * j + 16)), 16), mins);
        }
        Values r = k.for_(k.ci(0), k.ci(32), k.ci(2), {zero, zero, zero, zero},
                          [&](Value l, mlir::ValueRange a) -> Values {
                            Values out(4);
                            for (int u = 0; u < 2; ++u) {
                              Value ll = k.add(l, k.ci(u));
                              Value q = k.zext(k.vload(bytes_, k.add(at(kQ4Qs + 16 * 32 * c), k.mul(ll, k.ci(16))), 16), k.i32);
                              Value col = k.add(k0, k.add(ll, k.ci(64 * c)));
                              out[u] = k.fma(k.sitofp(k.band(q, ci32(15)), k.f32), xb(col), a[u]);
                              out[2 + u] = k.fma(k.sitofp(k.shru(q, ci32(4)), k.f32), xb(k.add(col, k.ci(32))), a[2 + u]);
                            }
                            return out;
                          });
        tot = k.fma(k.add(r[0], r[1]), sc[0], tot);
        tot = k.fma(k.add(r[2], r[3]), sc[1], tot);
      }
      return k.sub(k.fma(tot, d, acc), k.mul(mins, dmin));
    }
    case DType::Q6_K: {
      Value d = f16s(at(kQ6D), 16);
      Value tot = zero, offs = zero;
      for (int i = 0; i < 16; ++i) {
        // scale i covers the 16 columns 128h + 32q + 16lh with i = 8h + lh + 2q
        const int h = i / 8, lh = i % 2, q = (i % 8) / 2;
        Value sc = k.sitofp(bytes_i32(at(kQ6Sc + 16 * i), 16, true), k.f32);
        offs = k.fma(sc, k.splat(xs(128 * h + 32 * q + 16 * lh), 16), offs);
      }
      for (int h = 0; h < 2; ++h)
        for (int lh = 0; lh < 2; ++lh) {
          Values r = k.for_(k.ci(16 * lh), k.ci(16 * lh + 16), k.ci(1), {zero, zero, zero, zero},
                            [&](Value l, mlir::ValueRange a) -> Values {
                              Value qla = k.zext(k.vload(bytes_, k.add(at(16 * 64 * h), k.mul(l, k.ci(16))), 16), k.i32);
                              Value qlb = k.zext(k.vload(bytes_, k.add(at(16 * (64 * h + 32)), k.mul(l, k.ci(16))), 16), k.i32);
                              Value qh = k.zext(k.vload(bytes_, k.add(at(kQ6Qh + 16 * 32 * h), k.mul(l, k.ci(16))), 16), k.i32);
                              std::array<Value, 4> qv = q6_codes(k, qla, qlb, qh);
                              Values out;
                              for (int qi = 0; qi < 4; ++qi) {
                                Value col = k.add(k0, k.add(l, k.ci(128 * h + 32 * qi)));
                                out.push_back(k.fma(k.sitofp(qv[qi], k.f32), xb(col), a[qi]));
                              }
                              return out;
                            });
          for (int qi = 0; qi < 4; ++qi) {
            Value sc = k.sitofp(bytes_i32(at(kQ6Sc + 16 * (8 * h + lh + 2 * qi)), 16, true), k.f32);
            tot = k.fma(r[qi], sc, tot);
          }
        }
      // sum d sc (q - 32) x = d (sum sc q x - 32 sum_i sc_i xsum_i)
      return k.fma(k.fma(offs, k.vconst_f(-32.0, 16), tot), d, acc);
    }
    default:
      break;
  }
  throw_internal(std::string("cpu codegen: no cpu_r16 matrix-vector reader for ") + dtype_name(d_.dtype));
}

}  // namespace aprc::cpu
