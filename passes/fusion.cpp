#include "fusion.h"

#include "mlir/IR/Dominance.h"

namespace aprc::passes {

using mlir::Operation;
using mlir::Value;

std::optional<Projection> projection_of(Value value) {
  if (auto linear = value.getDefiningOp<ir::LinearOp>())
    return Projection{linear, 0, linear.getInput(), {}, {}, linear.getWeight(), linear.getBias()};
  auto fused = value.getDefiningOp<ir::FusedLinearOp>();
  if (!fused || fused.getEpilogue() != ir::FusedEpilogue::none) return std::nullopt;
  const unsigned index = mlir::cast<mlir::OpResult>(value).getResultNumber();
  Value bias = fused.getBiases().empty() ? Value() : fused.getBiases()[index];
  return Projection{fused, index, fused.getInput(), fused.getNorm(), fused.getEpsAttr(), fused.getWeights()[index], bias};
}

void FusedLinearParts::add_projection(const Projection& p) {
  if (weights.empty()) {
    input = p.input;
    norm = p.norm;
    eps = p.eps;
  }
  weights.push_back(p.weight);
  if (p.bias) biases.push_back(p.bias);
  fp8_per_token |= p.op->hasAttr(ir::AprcDialect::kFp8PerTokenAttrName);
}

FusedLinearParts parts_of(ir::LinearOp op) {
  FusedLinearParts parts;
  parts.add_projection(*projection_of(op.getResult()));
  parts.result_types.push_back(op.getType());
  parts.result_names.push_back(original_name(op));
  parts.locs.push_back(op.getLoc());
  return parts;
}

FusedLinearParts parts_of(ir::FusedLinearOp op) {
  FusedLinearParts parts;
  parts.input = op.getInput();
  parts.norm = op.getNorm();
  parts.eps = op.getEpsAttr();
  parts.weights.assign(op.getWeights().begin(), op.getWeights().end());
  parts.biases.assign(op.getBiases().begin(), op.getBiases().end());
  parts.residual = op.getResidual();
  parts.epilogue = op.getEpilogue();
  parts.result_types.assign(op.getResultTypes().begin(), op.getResultTypes().end());
  parts.result_names.assign(op.getResultNames().begin(), op.getResultNames().end());
  parts.locs.push_back(op.getLoc());
  parts.fp8_per_token = op->hasAttr(ir::AprcDialect::kFp8PerTokenAttrName);
  return parts;
}

ir::FusedLinearOp build_fused_linear(mlir::RewriterBase& rewriter, const FusedLinearParts& parts) {
  const mlir::Location loc = parts.locs.size() == 1 ? parts.locs.front() : rewriter.getFusedLoc(parts.locs);
  auto fused = rewriter.create<ir::FusedLinearOp>(loc, parts.result_types, parts.input, parts.norm, parts.weights,
                                                  parts.biases, parts.residual, parts.epilogue, parts.eps,
                                                  rewriter.getArrayAttr(parts.result_names));
  if (parts.fp8_per_token) fused->setAttr(ir::AprcDialect::kFp8PerTokenAttrName, rewriter.getUnitAttr());
  return fused;
}

namespace {

std::optional<mlir::StringAttr> name_in(mlir::Location loc) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc)) return name.getName();
  if (auto fused = mlir::dyn_cast<mlir::FusedLoc>(loc))
    for (mlir::Location inner : fused.getLocations())
      if (auto name = name_in(inner)) return name;
  return std::nullopt;
}

}  // namespace

mlir::StringAttr original_name(Operation* op) {
  if (auto name = name_in(op->getLoc())) return *name;
  return mlir::StringAttr::get(op->getContext(), "");
}

bool hoist_before(mlir::RewriterBase& rewriter, Value value, Operation* point) {
  Operation* def = value.getDefiningOp();
  if (!def) return value.getParentBlock() == point->getBlock();  // a block argument of point's block
  if (def->getBlock() == point->getBlock() && def->isBeforeInBlock(point)) return true;
  if (def->getBlock() != point->getBlock()) return mlir::DominanceInfo().properlyDominates(def, point);
  if (!mlir::isa<ir::WeightRefOp>(def)) return false;
  rewriter.moveOpBefore(def, point);
  return true;
}

}  // namespace aprc::passes
