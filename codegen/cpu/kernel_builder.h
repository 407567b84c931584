// A small layer over MLIR's builders for writing CPU kernels as IR: typed constants, arithmetic that
// picks the integer or float op by type, scf loops with carried values, vector loads and stores on
// raw-pointer views, and the kernel entry that turns the C ABI arguments into memrefs.
//
// Every kernel generator in codegen/cpu writes scf/vector/arith/memref through this; only the
// entry (pointer loads, memref descriptors) touches the llvm dialect. This header is MLIR-heavy:
// include it only from codegen/cpu sources.
#pragma once

#include <functional>
#include <string>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace aprc::cpu {

using mlir::Type;
using mlir::Value;
using mlir::VectorType;
using Values = llvm::SmallVector<Value, 8>;

class KB {
 public:
  KB(mlir::MLIRContext* ctx, mlir::Location loc);
  mlir::ImplicitLocOpBuilder b;
  bool has_vnni = false;  // the target has AVX-512 VNNI (dot_u8s8 may be used)
  bool has_bf16 = false;  // the target has AVX512-BF16 and VBMI (dot_bf16 may be used)

  // Types.
  Type f32, f64, f16, bf16, i1, i8, i16, i32, i64, idx;
  VectorType vec(int64_t n, Type elem) { return VectorType::get({n}, elem); }

  // Constants: index, integer of a type, float of a type; splats of them.
  Value ci(int64_t v);
  Value cint(int64_t v, Type t);
  Value cfl(double v, Type t);
  Value cf(double v) { return cfl(v, f32); }
  Value splat(Value scalar, int64_t n);
  Value vconst_i(int64_t v, int64_t n, Type elem) { return splat(cint(v, elem), n); }
  Value vconst_f(double v, int64_t n, Type elem = nullptr) { return splat(cfl(v, elem ? elem : f32), n); }
  Value iota(int64_t n, Type elem);  // [0, 1, ..., n-1]

  // Arithmetic; the op follows the (element) type of `a`.
  Value add(Value a, Value c);
  Value sub(Value a, Value c);
  Value mul(Value a, Value c);
  Value div(Value a, Value c);           // float, or signed integer
  Value rem(Value a, Value c);           // signed integer / index
  Value min(Value a, Value c);           // float (NaN-propagating) or signed
  Value max(Value a, Value c);
  Value fma(Value a, Value c, Value acc);  // a * c + acc, fused
  Value neg(Value a);
  Value fabs(Value a);
  Value band(Value a, Value c);
  Value bor(Value a, Value c);
  Value bxor(Value a, Value c);
  Value shl(Value a, Value c);
  Value shru(Value a, Value c);
  Value shrs(Value a, Value c);
  Value cmp(mlir::arith::CmpIPredicate p, Value a, Value c);
  Value cmpf(mlir::arith::CmpFPredicate p, Value a, Value c);
  Value select(Value cond, Value a, Value c);
  Value sqrt(Value a);
  Value round_even(Value a);  // to the nearest integer, ties to even (float result)

  // acc (vector<16xi32>) + per lane: sum of the 4 products u8(a) * s8(b) of its bytes
  // (AVX-512 VNNI vpdpbusd). a and b are vector<64xi8>.
  Value dot_u8s8(Value acc, Value a, Value b);
  // acc (vector<16xf32>) + per lane: a.bf16[2l] * b.bf16[2l] + a.bf16[2l+1] * b.bf16[2l+1]
  // (AVX512-BF16 vdpbf16ps). a and b are vector<16xi32> holding bf16 pairs.
  Value dot_bf16(Value acc, Value a, Value b);

  // Casts; each keeps the vector shape of its operand.
  Value zext(Value a, Type elem);
  Value sext(Value a, Type elem);
  Value trunc(Value a, Type elem);
  Value sitofp(Value a, Type elem);
  Value fptosi(Value a, Type elem);
  Value extf(Value a, Type elem);
  Value truncf(Value a, Type elem);
  Value bitcast(Value a, Type elem);        // same bit width per element
  Value vbitcast(Value a, VectorType to);   // vector.bitcast (last dimension may change)
  Value to_index(Value a);                  // integer -> index
  Value from_index(Value a, Type elem);     // index -> integer

  // Vectors.
  Value reduce_add(Value v);   // reassociating tree sum
  Value reduce_max(Value v);   // floats without NaN (a NaN lane gives an unspecified result)
  Value reduce_umax(Value v);  // unsigned integers
  Value extract(Value v, int64_t lane);
  Value extract(Value v, Value lane);
  Value insert(Value scalar, Value v, int64_t lane);
  Value insert(Value scalar, Value v, Value lane);
  Value shuffle(Value a, Value c, llvm::ArrayRef<int64_t> mask);
  Value slice(Value v, int64_t offset, int64_t size);  // elements [offset, offset + size)
  Value lane_mask(Value lo, Value hi, int64_t n);  // lanes l with lo <= l < hi (index operands)

  // Memory. Views are 1-D memrefs; indices are in elements of the view.
  Value load(Value mem, Value i);
  void store(Value v, Value mem, Value i);
  Value vload(Value mem, Value i, int64_t n);
  void vstore(Value v, Value mem, Value i);
  Value vload_masked(Value mem, Value i, Value mask, Value passthru);
  void vstore_masked(Value v, Value mem, Value i, Value mask);
  // `n` elements of `elem` read from byte offset `byte_off` of an i8 view (any alignment).
  Value load_bytes_as(Value bytes, Value byte_off, Type elem, int64_t n);
  void prefetch(Value mem, Value i);        // a hint to bring mem[i]'s cache line closer
  Value stack(Type elem, Value count);   // stack scratch, freed when the kernel returns
  Value stack(Type elem, int64_t count);

  // Control flow. Bodies build at the current insertion point and return the carried values.
  void for_(Value lo, Value hi, Value step, const std::function<void(Value)>& body);
  Values for_(Value lo, Value hi, Value step, mlir::ValueRange init,
              const std::function<Values(Value, mlir::ValueRange)>& body);
  void if_(Value cond, const std::function<void()>& then_body);
  Values if_(Value cond, mlir::TypeRange types, const std::function<Values()>& then_body,
             const std::function<Values()>& else_body);

  // Math built from arithmetic (no libm calls; vectors stay vectors).
  Value exp(Value x);                // f32 or vector of f32, ~2 ulp; exp(-inf) = 0
  Value silu(Value x);               // x * sigmoid(x)
  std::pair<Value, Value> sin_cos(Value x);  // f64 (vector) -> {sin, cos}, ~1e-15 absolute for |x| < 1e9

 private:
  bool is_float(Value v) const;
};

// One generated function with the kernel ABI. Arguments are fetched lazily as typed views.
class KernelFn {
 public:
  // Creates `func.func @name(%args: !llvm.ptr, %scalars: !llvm.ptr, %begin: i64, %end: i64)` at
  // the end of `module` and leaves the builder inside its body.
  KernelFn(KB& kb, mlir::ModuleOp module, const std::string& name);
  // Ends the body (func.return).
  void finish();

  // args[i] as a 1-D memref of `elem` (size unknown: kernels index within what the spec allows).
  Value view(int i, Type elem);
  // scalars[i] as index.
  Value scalar(int i);
  Value begin() const { return begin_; }
  Value end() const { return end_; }
  Value T() { return scalar(0); }
  Value pos() { return scalar(1); }

 private:
  Value raw_pointer(int i);
  KB& kb_;
  mlir::func::FuncOp func_;
  Value args_, scalars_, begin_, end_;
};

}  // namespace aprc::cpu
