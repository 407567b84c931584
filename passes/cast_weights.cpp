// The passes that change weight encodings (Passes.td): aprc-cast-fp8 (the selected linear weights
// become fp8 e4m3 with f32 scales) and aprc-dequantize-weights (every weight f32). Only types change
// here: the weight's bytes are made from the stored tensor by convert_weight wherever they are
// materialized (plan writer, interpreter), so the IR never carries data.
#include <string>

#include "aprc/ir/dialect.h"
#include "aprc/passes/fp8_groups.h"
#include "aprc/passes/passes.h"
#include "require_expanded.h"
#include "matrix_operand.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringRef.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_CASTFP8
#define GEN_PASS_DEF_DEQUANTIZEWEIGHTS
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// The group of a weight read as a matrix, by its symbol (docs/design.md names weights after the op
// that reads them: layers.N.attn.q_proj.weight, layers.N.mlp.down_proj.weight, logits.weight, ...).
Fp8Group group_of(llvm::StringRef symbol) {
  for (const char* s : {".attn.q_proj.weight", ".attn.k_proj.weight", ".attn.v_proj.weight"})
    if (symbol.ends_with(s)) return kFp8AttnQkv;
  if (symbol.ends_with(".attn.o_proj.weight")) return kFp8AttnProj;
  for (const char* s : {".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"})
    if (symbol.ends_with(s)) return kFp8Mlp;
  if (symbol == "logits.weight") return kFp8Logits;
  return kFp8Other;
}

bool multiplies_fp8(mlir::Operation* op) {
  return llvm::any_of(op->getOperandTypes(), [](mlir::Type t) {
    auto w = mlir::dyn_cast<WeightType>(t);
    return w && w.isMatrix() && w.getEncoding() == DType::FP8_E4M3;
  });
}

// Gives `weight` and every reader of it the type `type`.
void retype(WeightOp weight, llvm::ArrayRef<WeightRefOp> readers, WeightType type) {
  weight.setTypeAttr(mlir::TypeAttr::get(type));
  for (WeightRefOp ref : readers) ref.getResult().setType(type);
}

// The weight_refs of every symbol.
llvm::DenseMap<mlir::StringAttr, llvm::SmallVector<WeightRefOp>> readers_of(mlir::ModuleOp module) {
  llvm::DenseMap<mlir::StringAttr, llvm::SmallVector<WeightRefOp>> refs;
  module.walk([&](WeightRefOp ref) { refs[ref.getWeightAttr().getAttr()].push_back(ref); });
  return refs;
}

struct CastFp8 : impl::CastFp8Base<CastFp8> {
  using CastFp8Base::CastFp8Base;

  mlir::LogicalResult initialize(mlir::MLIRContext* context) override {
    groups_ = ops.empty() ? unsigned{kFp8Layers} : 0u;
    for (const std::string& name : ops) {
      const unsigned group = fp8_group(name);
      if (!group)
        return mlir::emitError(mlir::UnknownLoc::get(context))
               << "aprc-cast-fp8: unknown group '" << name << "' in ops= (groups: " << fp8_group_list() << ")";
      groups_ |= group;
    }
    return mlir::success();
  }

  void runOnOperation() override {
    if (mlir::failed(require_expanded(getOperation(), getArgument()))) return signalPassFailure();
    mlir::ModuleOp module = getOperation();
    auto refs = readers_of(module);
    for (WeightOp weight : module.getOps<WeightOp>()) {
      const WeightType type = weight.getWeightType();
      if (!type.isMatrix() || !(groups_ & group_of(weight.getSymName()))) continue;
      const llvm::SmallVector<WeightRefOp>& readers = refs[weight.getSymNameAttr()];
      if (!only_multiplied(readers)) continue;  // a table or an unused weight keeps its encoding
      retype(weight, readers,
             WeightType::get(&getContext(), DType::FP8_E4M3, type.getShape(), WeightLayout::RowMajor, granularity));
    }

    if (!perTokenActivations) return;
    const auto unit = mlir::UnitAttr::get(&getContext());
    module.walk([&](mlir::Operation* op) {
      if (!mlir::isa<LinearOp, FusedLinearOp, LogitsOp>(op) || !multiplies_fp8(op)) return;
      // Prefill functions are those whose activations have a dynamic row count; decode's have one row.
      if (!mlir::cast<mlir::RankedTensorType>(op->getOperand(0).getType()).isDynamicDim(0)) return;
      op->setAttr(AprcDialect::kFp8PerTokenAttrName, unit);
    });
  }

 private:
  unsigned groups_ = kFp8Layers;
};

struct DequantizeWeights : impl::DequantizeWeightsBase<DequantizeWeights> {
  void runOnOperation() override {
    if (mlir::failed(require_expanded(getOperation(), getArgument()))) return signalPassFailure();
    mlir::ModuleOp module = getOperation();
    auto refs = readers_of(module);
    for (WeightOp weight : module.getOps<WeightOp>())
      retype(weight, refs[weight.getSymNameAttr()], WeightType::get(&getContext(), DType::F32, weight.getWeightType().getShape()));
    // No fp8 weight is left to quantize activations for.
    module.walk([](mlir::Operation* op) { op->removeAttr(AprcDialect::kFp8PerTokenAttrName); });
  }
};

}  // namespace
}  // namespace aprc::passes
