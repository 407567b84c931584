#include "kernel_builder.h"

#include <cmath>
#include <limits>

#include "mlir/IR/BuiltinTypes.h"

namespace aprc::cpu {

using namespace mlir;

KB::KB(MLIRContext* ctx, Location loc) : b(loc, ctx) {
  f32 = b.getF32Type();
  f64 = b.getF64Type();
  f16 = b.getF16Type();
  bf16 = b.getBF16Type();
  i1 = b.getI1Type();
  i8 = b.getI8Type();
  i16 = b.getI16Type();
  i32 = b.getI32Type();
  i64 = b.getI64Type();
  idx = b.getIndexType();
}

bool KB::is_float(Value v) const { return isa<FloatType>(getElementTypeOrSelf(v.getType())); }

Value KB::ci(int64_t v) { return b.create<arith::ConstantIndexOp>(v); }

Value KB::cint(int64_t v, Type t) {
  if (t.isIndex()) return ci(v);
  return b.create<arith::ConstantOp>(t, b.getIntegerAttr(t, v));
}

Value KB::cfl(double v, Type t) { return b.create<arith::ConstantOp>(t, b.getFloatAttr(t, v)); }

Value KB::splat(Value scalar, int64_t n) { return b.create<vector::SplatOp>(scalar, vec(n, scalar.getType())); }

Value KB::iota(int64_t n, Type elem) {
  auto t = vec(n, elem);
  llvm::SmallVector<Attribute> vals;
  for (int64_t i = 0; i < n; ++i)
    vals.push_back(isa<FloatType>(elem) ? Attribute(b.getFloatAttr(elem, double(i))) : b.getIntegerAttr(elem, i));
  return b.create<arith::ConstantOp>(t, DenseElementsAttr::get(t, vals));
}

Value KB::add(Value a, Value c) { return is_float(a) ? b.create<arith::AddFOp>(a, c).getResult() : b.create<arith::AddIOp>(a, c).getResult(); }
Value KB::sub(Value a, Value c) { return is_float(a) ? b.create<arith::SubFOp>(a, c).getResult() : b.create<arith::SubIOp>(a, c).getResult(); }
Value KB::mul(Value a, Value c) { return is_float(a) ? b.create<arith::MulFOp>(a, c).getResult() : b.create<arith::MulIOp>(a, c).getResult(); }
Value KB::div(Value a, Value c) { return is_float(a) ? b.create<arith::DivFOp>(a, c).getResult() : b.create<arith::DivSIOp>(a, c).getResult(); }
Value KB::rem(Value a, Value c) { return b.create<arith::RemSIOp>(a, c); }
Value KB::min(Value a, Value c) { return is_float(a) ? b.create<arith::MinimumFOp>(a, c).getResult() : b.create<arith::MinSIOp>(a, c).getResult(); }
Value KB::max(Value a, Value c) { return is_float(a) ? b.create<arith::MaximumFOp>(a, c).getResult() : b.create<arith::MaxSIOp>(a, c).getResult(); }
Value KB::neg(Value a) { return b.create<arith::NegFOp>(a); }
Value KB::fabs(Value a) { return b.create<math::AbsFOp>(a); }
Value KB::band(Value a, Value c) { return b.create<arith::AndIOp>(a, c); }
Value KB::bor(Value a, Value c) { return b.create<arith::OrIOp>(a, c); }
Value KB::bxor(Value a, Value c) { return b.create<arith::XOrIOp>(a, c); }
Value KB::shl(Value a, Value c) { return b.create<arith::ShLIOp>(a, c); }
Value KB::shru(Value a, Value c) { return b.create<arith::ShRUIOp>(a, c); }
Value KB::shrs(Value a, Value c) { return b.create<arith::ShRSIOp>(a, c); }
Value KB::cmp(arith::CmpIPredicate p, Value a, Value c) { return b.create<arith::CmpIOp>(p, a, c); }
Value KB::cmpf(arith::CmpFPredicate p, Value a, Value c) { return b.create<arith::CmpFOp>(p, a, c); }
Value KB::select(Value cond, Value a, Value c) { return b.create<arith::SelectOp>(cond, a, c); }
Value KB::dot_bf16(Value acc, Value a, Value c) {
  auto v32 = vec(32, bf16);
  return b.create<LLVM::CallIntrinsicOp>(Type(vec(16, f32)), llvm::StringRef("llvm.x86.avx512bf16.dpbf16ps.512"),
                                         ValueRange{acc, vbitcast(a, v32), vbitcast(c, v32)})
      .getResult(0);
}

Value KB::sqrt(Value a) { return b.create<math::SqrtOp>(a); }
Value KB::round_even(Value a) { return b.create<math::RoundEvenOp>(a); }

Value KB::dot_u8s8(Value acc, Value a, Value c) {
  auto v16 = vec(16, i32);
  Value av = vbitcast(a, v16), cv = vbitcast(c, v16);
  return b.create<LLVM::CallIntrinsicOp>(Type(v16), llvm::StringRef("llvm.x86.avx512.vpdpbusd.512"),
                                         ValueRange{acc, av, cv})
      .getResult(0);
}

Value KB::fma(Value a, Value c, Value acc) {
  if (isa<VectorType>(a.getType())) return b.create<vector::FMAOp>(a, c, acc);
  return b.create<math::FmaOp>(a, c, acc);
}

namespace {
Type like(Value v, Type elem) {
  if (auto vt = dyn_cast<VectorType>(v.getType())) return VectorType::get(vt.getShape(), elem);
  return elem;
}
}  // namespace

Value KB::zext(Value a, Type e) { return b.create<arith::ExtUIOp>(like(a, e), a); }
Value KB::sext(Value a, Type e) { return b.create<arith::ExtSIOp>(like(a, e), a); }
Value KB::trunc(Value a, Type e) { return b.create<arith::TruncIOp>(like(a, e), a); }
Value KB::sitofp(Value a, Type e) { return b.create<arith::SIToFPOp>(like(a, e), a); }
Value KB::fptosi(Value a, Type e) { return b.create<arith::FPToSIOp>(like(a, e), a); }
Value KB::extf(Value a, Type e) { return b.create<arith::ExtFOp>(like(a, e), a); }
Value KB::truncf(Value a, Type e) { return b.create<arith::TruncFOp>(like(a, e), a); }
Value KB::bitcast(Value a, Type e) { return b.create<arith::BitcastOp>(like(a, e), a); }
Value KB::vbitcast(Value a, VectorType to) { return b.create<vector::BitCastOp>(to, a); }
Value KB::to_index(Value a) { return b.create<arith::IndexCastOp>(idx, a); }
Value KB::from_index(Value a, Type e) { return b.create<arith::IndexCastOp>(e, a); }

Value KB::reduce_add(Value v) {
  return b.create<vector::ReductionOp>(vector::CombiningKind::ADD, v, arith::FastMathFlags::reassoc);
}
Value KB::reduce_max(Value v) {
  return b.create<vector::ReductionOp>(vector::CombiningKind::MAXNUMF, v, arith::FastMathFlags::nnan);
}
Value KB::reduce_umax(Value v) { return b.create<vector::ReductionOp>(vector::CombiningKind::MAXUI, v); }
Value KB::extract(Value v, int64_t lane) { return b.create<vector::ExtractOp>(v, lane); }
Value KB::extract(Value v, Value lane) { return b.create<vector::ExtractElementOp>(v, lane); }
Value KB::insert(Value s, Value v, int64_t lane) { return b.create<vector::InsertOp>(s, v, lane); }
Value KB::insert(Value s, Value v, Value lane) { return b.create<vector::InsertElementOp>(s, v, lane); }
Value KB::shuffle(Value a, Value c, llvm::ArrayRef<int64_t> mask) { return b.create<vector::ShuffleOp>(a, c, mask); }

Value KB::slice(Value v, int64_t offset, int64_t size) {
  return b.create<vector::ExtractStridedSliceOp>(v, ArrayRef<int64_t>{offset}, ArrayRef<int64_t>{size}, ArrayRef<int64_t>{1});
}

Value KB::lane_mask(Value lo, Value hi, int64_t n) {
  Value lanes = iota(n, i32);
  Value l = splat(from_index(lo, i32), n), h = splat(from_index(hi, i32), n);
  return band(cmp(arith::CmpIPredicate::sge, lanes, l), cmp(arith::CmpIPredicate::slt, lanes, h));
}

Value KB::load(Value mem, Value i) { return b.create<memref::LoadOp>(mem, ValueRange{i}); }
void KB::store(Value v, Value mem, Value i) { b.create<memref::StoreOp>(v, mem, ValueRange{i}); }

Value KB::vload(Value mem, Value i, int64_t n) {
  auto e = cast<MemRefType>(mem.getType()).getElementType();
  return b.create<vector::LoadOp>(vec(n, e), mem, ValueRange{i});
}
void KB::vstore(Value v, Value mem, Value i) { b.create<vector::StoreOp>(v, mem, ValueRange{i}); }

Value KB::vload_masked(Value mem, Value i, Value mask, Value passthru) {
  return b.create<vector::MaskedLoadOp>(passthru.getType(), mem, ValueRange{i}, mask, passthru);
}
void KB::vstore_masked(Value v, Value mem, Value i, Value mask) {
  b.create<vector::MaskedStoreOp>(mem, ValueRange{i}, mask, v);
}

Value KB::load_bytes_as(Value bytes, Value byte_off, Type elem, int64_t n) {
  const int64_t nbytes = n * elem.getIntOrFloatBitWidth() / 8;
  Value raw = vload(bytes, byte_off, nbytes);
  return vbitcast(raw, vec(n, elem));
}

void KB::prefetch(Value mem, Value i) {
  b.create<memref::PrefetchOp>(mem, ValueRange{i}, /*isWrite=*/false, /*localityHint=*/3, /*isDataCache=*/true);
}

Value KB::stack(Type elem, Value count) {
  auto t = MemRefType::get({ShapedType::kDynamic}, elem);
  return b.create<memref::AllocaOp>(t, ValueRange{count}, ValueRange{}, b.getI64IntegerAttr(64));
}
Value KB::stack(Type elem, int64_t count) {
  auto t = MemRefType::get({count}, elem);
  Value m = b.create<memref::AllocaOp>(t, b.getI64IntegerAttr(64));
  // A dynamic-size view of it, so that it mixes with the pointer views.
  return b.create<memref::CastOp>(MemRefType::get({ShapedType::kDynamic}, elem), m);
}

void KB::for_(Value lo, Value hi, Value step, const std::function<void(Value)>& body) {
  b.create<scf::ForOp>(lo, hi, step, ValueRange{}, [&](OpBuilder&, Location, Value iv, ValueRange) {
    body(iv);
    b.create<scf::YieldOp>();
  });
}

Values KB::for_(Value lo, Value hi, Value step, ValueRange init,
                const std::function<Values(Value, ValueRange)>& body) {
  auto op = b.create<scf::ForOp>(lo, hi, step, init, [&](OpBuilder&, Location, Value iv, ValueRange args) {
    Values out = body(iv, args);
    b.create<scf::YieldOp>(out);
  });
  return Values(op.getResults().begin(), op.getResults().end());
}

void KB::if_(Value cond, const std::function<void()>& then_body) {
  b.create<scf::IfOp>(cond, [&](OpBuilder&, Location) {
    then_body();
    b.create<scf::YieldOp>();
  });
}

Values KB::if_(Value cond, TypeRange types, const std::function<Values()>& then_body,
               const std::function<Values()>& else_body) {
  auto op = b.create<scf::IfOp>(types, cond, /*addThenBlock=*/true, /*addElseBlock=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&op.getThenRegion().front());
    b.create<scf::YieldOp>(then_body());
    b.setInsertionPointToStart(&op.getElseRegion().front());
    b.create<scf::YieldOp>(else_body());
  }
  return Values(op.getResults().begin(), op.getResults().end());
}

// exp(x) = 2^k * e^r with k = round(x / ln 2), r = x - k ln 2 (two-part ln 2, so r is exact to
// f32), e^r by its Taylor series to r^7 (relative error < 6e-9 on |r| <= ln2/2). Inputs are
// clamped to [-87, 88] so 2^k stays a normal float; below -87 the result is 0 (exp(-inf) = 0).
Value KB::exp(Value x) {
  auto vt = dyn_cast<VectorType>(x.getType());
  auto k = [&](double v) { return vt ? vconst_f(v, vt.getNumElements()) : cf(v); };
  auto ki = [&](int64_t v) { return vt ? vconst_i(v, vt.getNumElements(), i32) : cint(v, i32); };
  // clamp with compares that keep a NaN (and compile to single vminps/vmaxps)
  Value xc = select(cmpf(arith::CmpFPredicate::OGT, x, k(88.0)), k(88.0), x);
  xc = select(cmpf(arith::CmpFPredicate::OLT, xc, k(-87.0)), k(-87.0), xc);
  // round to nearest: adding and subtracting 1.5 * 2^23 leaves the integer part
  Value kf = sub(fma(xc, k(1.4426950408889634), k(12582912.0)), k(12582912.0));
  Value r = fma(kf, k(-0.693145751953125), xc);          // ln2 high part (exact product)
  r = fma(kf, k(-1.428606765330187045e-06), r);          // ln2 low part
  Value p = k(1.0 / 5040);
  for (double c : {1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0}) p = fma(p, r, k(c));
  Value bits = shl(add(fptosi(kf, i32), ki(127)), ki(23));
  Value scaled = mul(p, bitcast(bits, f32));
  return select(cmpf(arith::CmpFPredicate::OLT, x, k(-87.0)), k(0.0), scaled);
}

Value KB::silu(Value x) {
  auto vt = dyn_cast<VectorType>(x.getType());
  Value one = vt ? vconst_f(1.0, vt.getNumElements()) : cf(1.0);
  return div(x, add(one, exp(neg(x))));
}

// sin and cos in f64: k = round(x * 2/pi); r = x - k * pi/2 with pi/2 split in three 33-bit parts
// (fdlibm's pio2_1..3), exact for |k| < 2^20; Taylor series on |r| <= pi/4 (error < 1e-16); the
// quadrant k mod 4 picks and signs the results.
std::pair<Value, Value> KB::sin_cos(Value x) {
  auto vt = dyn_cast<VectorType>(x.getType());
  const int64_t n = vt ? vt.getNumElements() : 0;
  auto k = [&](double v) { return vt ? vconst_f(v, n, f64) : cfl(v, f64); };
  auto ki = [&](int64_t v) { return vt ? vconst_i(v, n, i64) : cint(v, i64); };
  Value kf = sub(fma(x, k(0.63661977236758134308), k(6755399441055744.0)), k(6755399441055744.0));
  Value r = fma(kf, k(-1.57079632673412561417e+00), x);
  r = fma(kf, k(-6.07710050630396597660e-11), r);
  r = fma(kf, k(-2.02226624871116645580e-21), r);
  Value r2 = mul(r, r);
  // sin r = r (1 - r^2/3! + r^4/5! - ...), cos r = 1 - r^2/2! + r^4/4! - ...
  Value ps = k(-1.0 / 1307674368000.0);  // -1/15!
  for (double c : {1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0})
    ps = fma(ps, r2, k(c));
  Value s = mul(ps, r);
  Value pc = k(1.0 / 20922789888000.0);  // 1/16!
  for (double c : {-1.0 / 87178291200.0, 1.0 / 479001600.0, -1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0,
                   -0.5, 1.0})
    pc = fma(pc, r2, k(c));
  Value c = pc;
  Value q = fptosi(kf, i64);
  Value swap = cmp(arith::CmpIPredicate::ne, band(q, ki(1)), ki(0));
  Value sin_neg = cmp(arith::CmpIPredicate::ne, band(q, ki(2)), ki(0));
  Value cos_neg = cmp(arith::CmpIPredicate::ne, band(add(q, ki(1)), ki(2)), ki(0));
  Value sv = select(swap, c, s), cv = select(swap, s, c);
  sv = select(sin_neg, neg(sv), sv);
  cv = select(cos_neg, neg(cv), cv);
  return {sv, cv};
}

KernelFn::KernelFn(KB& kb, ModuleOp module, const std::string& name) : kb_(kb) {
  auto& b = kb.b;
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  auto type = b.getFunctionType({ptr, ptr, kb.i64, kb.i64}, {});
  func_ = func::FuncOp::create(b.getLoc(), name, type);
  module.push_back(func_);
  Block* entry = func_.addEntryBlock();
  b.setInsertionPointToStart(entry);
  args_ = entry->getArgument(0);
  scalars_ = entry->getArgument(1);
  begin_ = kb.to_index(entry->getArgument(2));
  end_ = kb.to_index(entry->getArgument(3));
}

void KernelFn::finish() {
  kb_.b.create<func::ReturnOp>();
}

Value KernelFn::raw_pointer(int i) {
  auto& b = kb_.b;
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  Value slot = b.create<LLVM::GEPOp>(ptr, ptr, args_, ArrayRef<LLVM::GEPArg>{LLVM::GEPArg(i)});
  return b.create<LLVM::LoadOp>(ptr, slot);
}

Value KernelFn::view(int i, Type elem) {
  auto& b = kb_.b;
  auto* ctx = b.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto arr = LLVM::LLVMArrayType::get(kb_.i64, 1);
  auto desc_t = LLVM::LLVMStructType::getLiteral(ctx, {ptr, ptr, kb_.i64, arr, arr});
  Value p = raw_pointer(i);
  auto i64c = [&](int64_t v) { return b.create<LLVM::ConstantOp>(kb_.i64, b.getI64IntegerAttr(v)).getResult(); };
  Value d = b.create<LLVM::UndefOp>(desc_t);
  d = b.create<LLVM::InsertValueOp>(d, p, ArrayRef<int64_t>{0});
  d = b.create<LLVM::InsertValueOp>(d, p, ArrayRef<int64_t>{1});
  d = b.create<LLVM::InsertValueOp>(d, i64c(0), ArrayRef<int64_t>{2});
  // The size is never checked; the spec bounds every index.
  d = b.create<LLVM::InsertValueOp>(d, i64c(std::numeric_limits<int64_t>::max() / 16), ArrayRef<int64_t>{3, 0});
  d = b.create<LLVM::InsertValueOp>(d, i64c(1), ArrayRef<int64_t>{4, 0});
  auto mt = MemRefType::get({ShapedType::kDynamic}, elem);
  return b.create<UnrealizedConversionCastOp>(TypeRange{mt}, ValueRange{d}).getResult(0);
}

Value KernelFn::scalar(int i) {
  auto& b = kb_.b;
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  Value slot = b.create<LLVM::GEPOp>(ptr, kb_.i64, scalars_, ArrayRef<LLVM::GEPArg>{LLVM::GEPArg(i)});
  return kb_.to_index(b.create<LLVM::LoadOp>(kb_.i64, slot));
}

}  // namespace aprc::cpu
