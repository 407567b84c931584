// What the fusion patterns share: a projection viewed on its own (one weight's product, whether an
// aprc.linear or one result of a fused_linear), a fused_linear described by its parts and built in
// one place, and the names and locations a fused op inherits from the ops it replaces.
#pragma once

#include <optional>

#include "aprc/ir/dialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace aprc::passes {

// x @ W^T (+ b), optionally after an RMSNorm of x: result `index` of `op`, an aprc.linear or a
// fused_linear of epilogue none.
struct Projection {
  mlir::Operation* op = nullptr;
  unsigned index = 0;
  mlir::Value input, norm;
  mlir::FloatAttr eps;
  mlir::Value weight, bias;
};

// The projection that computes `value`, if an aprc.linear or a none-epilogue fused_linear does.
std::optional<Projection> projection_of(mlir::Value value);

// The operands, attributes and results of a fused_linear to build.
struct FusedLinearParts {
  mlir::Value input, norm;
  mlir::FloatAttr eps;
  llvm::SmallVector<mlir::Value> weights, biases;
  mlir::Value residual;
  ir::FusedEpilogue epilogue = ir::FusedEpilogue::none;
  llvm::SmallVector<mlir::Type> result_types;
  llvm::SmallVector<mlir::Attribute> result_names;  // StringAttr, one per result
  llvm::SmallVector<mlir::Location> locs;            // of the ops it replaces
  // aprc.fp8_per_token_activations: a part carries it (aprc-cast-fp8 puts it on every prefill product
  // of fp8 weights, and fuses only products of one weight group, so parts agree).
  bool fp8_per_token = false;

  // Adds `p`'s weight and bias; the first projection also gives the input and the norm.
  void add_projection(const Projection& p);
};

// The parts of an existing aprc.linear or fused_linear, as they are.
FusedLinearParts parts_of(ir::LinearOp op);
FusedLinearParts parts_of(ir::FusedLinearOp op);

// Builds the fused_linear at the rewriter's insertion point, located at the fusion of `locs`.
ir::FusedLinearOp build_fused_linear(mlir::RewriterBase& rewriter, const FusedLinearParts& parts);

// The name an op's value carries for `aprc verify` (its NameLoc, or the first NameLoc inside a
// fused location; "" when it has none), as the StringAttr that result_names holds.
mlir::StringAttr original_name(mlir::Operation* op);

// Makes `value` available before `point` (in point's block): true when it already is, or when it
// comes from an aprc.weight_ref, which has no operands and is moved up to just before `point`.
bool hoist_before(mlir::RewriterBase& rewriter, mlir::Value value, mlir::Operation* point);

// Rewrites `op` with `Pattern` until it matches nowhere (MLIR's greedy driver, which also erases
// ops left without readers); what every fusion pass does with its one pattern.
template <typename Pattern>
mlir::LogicalResult apply_until_fixpoint(mlir::Operation* op) {
  mlir::RewritePatternSet patterns(op->getContext());
  patterns.add<Pattern>(op->getContext());
  return mlir::applyPatternsAndFoldGreedily(op, std::move(patterns));
}

}  // namespace aprc::passes
