// Embedding, RmsNorm and the elementwise kernels (Silu, Mul, Add). Parallel extent: tokens.
#include "aprc/error.h"
#include "kernels.h"
#include "weight_reader.h"

namespace aprc::cpu {

using mlir::arith::CmpIPredicate;

Values for_lanes16(KB& k, Value lo, Value hi, mlir::ValueRange init,
                   const std::function<Values(Value, Value, mlir::ValueRange)>& body) {
  Value n = k.sub(hi, lo);
  Value full_end = k.add(lo, k.mul(k.b.create<mlir::arith::DivUIOp>(n, k.ci(16)), k.ci(16)));
  Values mid = k.for_(lo, full_end, k.ci(16), init, [&](Value i, mlir::ValueRange a) { return body(i, Value(), a); });
  llvm::SmallVector<mlir::Type> types;
  for (Value v : mid) types.push_back(v.getType());
  return k.if_(
      k.cmp(CmpIPredicate::slt, full_end, hi), types,
      [&] { return body(full_end, k.lane_mask(k.ci(0), k.sub(hi, full_end), 16), mid); }, [&] { return mid; });
}

void for_lanes16(KB& k, Value lo, Value hi, const std::function<void(Value, Value)>& body) {
  for_lanes16(k, lo, hi, {}, [&](Value i, Value mask, mlir::ValueRange) {
    body(i, mask);
    return Values{};
  });
}

namespace {

Value load16(KB& k, Value mem, Value i, Value mask) {
  return mask ? k.vload_masked(mem, i, mask, k.vconst_f(0, 16)) : k.vload(mem, i, 16);
}
void store16(KB& k, Value v, Value mem, Value i, Value mask) {
  if (mask) k.vstore_masked(v, mem, i, mask);
  else k.vstore(v, mem, i);
}

// Silu / Mul / Add over the flat elements of tokens [begin, end).
void gen_pointwise(KB& k, KernelFn& fn, const KernelSpec& s) {
  const int nin = s.kind == KernelKind::Silu ? 1 : 2;
  Values in;
  for (int i = 0; i < nin; ++i) in.push_back(fn.view(i, k.f32));
  Value out = fn.view(nin, k.f32);
  Value lo = k.mul(fn.begin(), k.ci(s.cols)), hi = k.mul(fn.end(), k.ci(s.cols));
  for_lanes16(k, lo, hi, [&](Value i, Value mask) {
    Value a = load16(k, in[0], i, mask);
    Value r;
    if (s.kind == KernelKind::Silu) r = k.silu(a);
    else {
      Value c = load16(k, in[1], i, mask);
      r = s.kind == KernelKind::Mul ? k.mul(a, c) : k.add(a, c);
    }
    store16(k, r, out, i, mask);
  });
}

void gen_rms_norm(KB& k, KernelFn& fn, const KernelSpec& s) {
  Value x = fn.view(0, k.f32), out = fn.view(2, k.f32);
  WeightReader gamma(k, s.weights.at(0), fn.view(1, k.i8));
  const int64_t H = s.cols;
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    Value row = k.mul(t, k.ci(H));
    // partial sums of squares, one per lane
    Value acc = for_lanes16(k, k.ci(0), k.ci(H), {k.vconst_f(0, 16)}, [&](Value i, Value mask, mlir::ValueRange a) {
      Value v = load16(k, x, k.add(row, i), mask);
      return Values{k.fma(v, v, a[0])};
    })[0];
    Value mean = k.div(k.extf(k.reduce_add(acc), k.f64), k.cfl(double(H), k.f64));
    Value inv = k.truncf(k.div(k.cfl(1.0, k.f64), k.sqrt(k.add(mean, k.cfl(s.eps, k.f64)))), k.f32);
    Value invv = k.splat(inv, 16);
    for_lanes16(k, k.ci(0), k.ci(H), [&](Value i, Value mask) {
      Value m = mask ? mask : k.lane_mask(k.ci(0), k.ci(16), 16);
      Value v = load16(k, x, k.add(row, i), mask);
      store16(k, k.mul(k.mul(v, invv), gamma.vector16(i, m)), out, k.add(row, i), mask);
    });
  });
}

void gen_embedding(KB& k, KernelFn& fn, const KernelSpec& s) {
  const WeightDesc& w = s.weights.at(0);
  Value ids = fn.view(0, k.i32), out = fn.view(2, k.f32);
  WeightReader table(k, w, fn.view(1, k.i8));
  const int64_t H = w.cols, W = table.unit_cols();
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    Value id = k.to_index(k.load(ids, t));
    Value row = k.max(k.min(id, k.ci(w.rows - 1)), k.ci(0));
    Value dst = k.mul(t, k.ci(H));
    if (!table.r16()) {
      k.for_(k.ci(0), k.ci(table.full_units()), k.ci(1), [&](Value u) {
        table.row_unit(row, u, [&](int64_t c, Value v) { k.vstore(v, out, k.add(dst, k.add(k.mul(u, k.ci(W)), k.ci(c)))); });
      });
      if (table.tail_cols()) {
        Value u = k.ci(table.full_units());
        Value mask = k.lane_mask(k.ci(0), k.ci(table.tail_cols()), 16);
        table.row_unit(row, u, [&](int64_t c, Value v) { k.vstore_masked(v, out, k.add(dst, k.ci(table.full_units() * W + c)), mask); }, true);
      }
    } else {
      // cpu_r16 keeps a row spread over 16-row tiles: decode the tile, keep this row's lane.
      Value group = k.b.create<mlir::arith::DivUIOp>(row, k.ci(16));
      Value lane = k.from_index(k.b.create<mlir::arith::RemUIOp>(row, k.ci(16)), k.i32);
      k.for_(k.ci(0), k.ci(table.full_units()), k.ci(1), [&](Value u) {
        table.group_unit(group, u, [&](Value c, Value v) {
          k.store(k.extract(v, lane), out, k.add(dst, k.add(k.mul(u, k.ci(W)), c)));
        });
      });
    }
  });
}

}  // namespace

void gen_elementwise(KB& k, mlir::ModuleOp module, const KernelSpec& s) {
  KernelFn fn(k, module, s.name());
  switch (s.kind) {
    case KernelKind::Silu:
    case KernelKind::Mul:
    case KernelKind::Add:
      gen_pointwise(k, fn, s);
      break;
    case KernelKind::RmsNorm:
      gen_rms_norm(k, fn, s);
      break;
    case KernelKind::Embedding:
      gen_embedding(k, fn, s);
      break;
    default:
      throw_internal("gen_elementwise: not an elementwise kernel");
  }
  fn.finish();
}

}  // namespace aprc::cpu
