// The compact form -> one op per layer: every aprc.decoder_layers becomes the bodies of its layer
// functions, inlined in order, with layer i's weights and cache and its ops named `layers.i.<op>`
// (docs/design.md, "The IR"). The layer functions and layer declarations go; nothing else changes.
#include "aprc/ir/expand_layers.h"

#include <string>
#include <vector>

#include "aprc/ir/dialect.h"
#include "llvm/ADT/StringMap.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace aprc::ir {
namespace {

std::string layer_prefix(size_t layer) { return "layers." + std::to_string(layer) + "."; }

std::string replace_all(std::string text, const std::string& what, const std::string& with) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

// `name` becomes `layers.i.name`; other locations stay as they are.
mlir::Location in_layer(mlir::Location loc, const std::string& prefix) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc))
    return mlir::NameLoc::get(mlir::StringAttr::get(loc.getContext(), prefix + name.getName().str()),
                              name.getChildLoc());
  return loc;
}

class LayerExpander {
 public:
  explicit LayerExpander(mlir::ModuleOp module) : module_(module), b_(module.getContext()) {}

  mlir::LogicalResult run() {
    module_.walk([&](DecoderLayersOp op) { calls_.push_back(op); });
    for (auto& op : module_.getBody()->getOperations()) {
      if (auto w = mlir::dyn_cast<LayerWeightOp>(op)) layer_weights_.push_back(w);
      if (auto kv = mlir::dyn_cast<LayerKvCacheOp>(op)) layer_caches_.push_back(kv);
    }
    if (calls_.empty() && layer_weights_.empty() && layer_caches_.empty()) return mlir::success();  // expanded
    if (calls_.empty())
      return module_.emitError() << "aprc-expand-layers: layer declarations but no aprc.decoder_layers to say which "
                                    "layer runs which function";
    // The verifier made every decoder_layers list the same functions.
    for (mlir::Attribute attr : calls_.front().getLayers())
      layers_.push_back(mlir::cast<mlir::FlatSymbolRefAttr>(attr).getValue().str());
    declare_layers();
    for (DecoderLayersOp call : calls_)
      if (mlir::failed(inline_layers(call))) return mlir::failure();
    for (const std::string& name : layers_)
      if (auto fn = module_.lookupSymbol<mlir::func::FuncOp>(name)) fn.erase();
    for (LayerWeightOp w : layer_weights_) w.erase();
    for (LayerKvCacheOp kv : layer_caches_) kv.erase();
    return mlir::success();
  }

 private:
  // aprc.weight @layers.i.NAME for each layer and each layer weight of its function (where the
  // first layer weight was), aprc.kv_cache @layers.i.CACHE for each layer (where each layer cache
  // was); renames_[i] maps the layer symbols to layer i's.
  void declare_layers() {
    renames_.resize(layers_.size());
    if (!layer_weights_.empty()) {
      b_.setInsertionPoint(layer_weights_.front());
      for (size_t i = 0; i < layers_.size(); ++i)
        for (LayerWeightOp w : layer_weights_) {
          if (w.getFunctionName() != layers_[i]) continue;
          const std::string name = layer_prefix(i) + w.getLayerName().str();
          b_.create<WeightOp>(w.getLoc(), b_.getStringAttr(name), w.getTypeAttr(),
                              b_.getStringAttr(replace_all(w.getSource().str(), "{}", std::to_string(i))));
          renames_[i][w.getSymName()] = name;
        }
    }
    for (LayerKvCacheOp kv : layer_caches_) {
      b_.setInsertionPoint(kv);
      for (size_t i = 0; i < layers_.size(); ++i) {
        const std::string name = layer_prefix(i) + kv.getSymName().str();
        b_.create<KvCacheOp>(kv.getLoc(), name, kv.getNumKvHeads(), kv.getHeadDim(), kv.getMaxSeq());
        renames_[i][kv.getSymName()] = name;
      }
    }
  }

  // Layer i's copy of `op` (already cloned): its name, the symbols it reads, its row count.
  void specialize(mlir::Operation* op, size_t layer, int64_t rows) {
    op->setLoc(in_layer(op->getLoc(), layer_prefix(layer)));
    const llvm::SmallVector<mlir::NamedAttribute> attrs(op->getAttrs());
    for (const mlir::NamedAttribute& attr : attrs)
      if (auto ref = mlir::dyn_cast<mlir::FlatSymbolRefAttr>(attr.getValue())) {
        auto it = renames_[layer].find(ref.getValue());
        if (it != renames_[layer].end())
          op->setAttr(attr.getName(), mlir::FlatSymbolRefAttr::get(op->getContext(), it->second));
      }
    // A layer function is polymorphic in its rows (tokens); the copy has the caller's.
    for (mlir::OpResult result : op->getResults())
      if (auto t = mlir::dyn_cast<mlir::RankedTensorType>(result.getType());
          t && t.getRank() == 2 && t.isDynamicDim(0) && !mlir::ShapedType::isDynamic(rows))
        result.setType(mlir::RankedTensorType::get({rows, t.getDimSize(1)}, t.getElementType()));
  }

  mlir::LogicalResult inline_layers(DecoderLayersOp call) {
    const int64_t rows = mlir::cast<mlir::RankedTensorType>(call.getInput().getType()).getDimSize(0);
    mlir::Value h = call.getInput();
    b_.setInsertionPoint(call);
    for (size_t i = 0; i < layers_.size(); ++i) {
      auto fn = module_.lookupSymbol<mlir::func::FuncOp>(layers_[i]);
      if (!fn || fn.isExternal()) return call.emitOpError() << "layer " << i << ": no function '@" << layers_[i] << "'";
      mlir::Block& body = fn.getBody().front();
      mlir::IRMapping map;
      map.map(body.getArgument(0), h);
      map.map(body.getArgument(1), call.getPos());
      for (mlir::Operation& op : body.without_terminator()) specialize(b_.clone(op, map), i, rows);
      h = map.lookup(body.getTerminator()->getOperand(0));
    }
    call.getResult().replaceAllUsesWith(h);
    call.erase();
    return mlir::success();
  }

  mlir::ModuleOp module_;
  mlir::OpBuilder b_;
  std::vector<DecoderLayersOp> calls_;
  std::vector<LayerWeightOp> layer_weights_;
  std::vector<LayerKvCacheOp> layer_caches_;
  std::vector<std::string> layers_;
  std::vector<llvm::StringMap<std::string>> renames_;
};

}  // namespace

mlir::LogicalResult expand_layers(mlir::ModuleOp module) { return LayerExpander(module).run(); }

}  // namespace aprc::ir
