// The aprc dialect: the weight type's syntax and checks, and every op's verifier. Verifier
// messages start with the op's name (emitOpError does that) and say what disagrees with what.
#include "aprc/ir/dialect.h"

#include "llvm/ADT/TypeSwitch.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;

#include "aprc/ir/AprcDialect.cpp.inc"
#include "aprc/ir/AprcEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "aprc/ir/AprcTypes.cpp.inc"

#define GET_OP_CLASSES
#include "aprc/ir/AprcOps.cpp.inc"

namespace aprc::ir {

void AprcDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "aprc/ir/AprcTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "aprc/ir/AprcOps.cpp.inc"
      >();
}

LogicalResult AprcDialect::verifyOperationAttribute(Operation* op, NamedAttribute attr) {
  if (attr.getName() == kConfigAttrName) {
    if (!isa<ModuleOp>(op)) return op->emitError() << "'" << kConfigAttrName << "' belongs on the module";
    if (!isa<DictionaryAttr>(attr.getValue()))
      return op->emitError() << "'" << kConfigAttrName << "' must be a dictionary of the model configuration";
    return success();
  }
  if (attr.getName() == kMaxTokensAttrName || attr.getName() == kArenaBytesAttrName) {
    auto value = dyn_cast<IntegerAttr>(attr.getValue());
    const int64_t least = attr.getName() == kMaxTokensAttrName ? 1 : 0;
    if (!value || value.getInt() < least)
      return op->emitError() << "'" << attr.getName().getValue() << "' must be an integer of at least " << least;
    return success();
  }
  if (attr.getName() == kOffsetsAttrName) {
    auto offsets = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!offsets || offsets.size() != static_cast<int64_t>(op->getNumResults()))
      return op->emitError() << "'" << kOffsetsAttrName << "' must be an array<i64> of one offset per result ("
                             << op->getNumResults() << ")";
    for (int64_t offset : offsets.asArrayRef())
      if (offset < 0 && offset != kFunctionOutput)
        return op->emitError() << "'" << kOffsetsAttrName << "': offset " << offset
                               << " is neither a byte offset nor " << kFunctionOutput << " (the function's output)";
    return success();
  }
  if (attr.getName() == kFp8PerTokenAttrName) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << kFp8PerTokenAttrName << "' must be a unit attribute";
    if (!isa<LinearOp, FusedLinearOp, LogitsOp>(op))
      return op->emitError() << "'" << kFp8PerTokenAttrName
                             << "' belongs on aprc.linear, aprc.fused_linear or aprc.logits";
    const bool fp8 = llvm::any_of(op->getOperandTypes(), [](Type t) {
      auto w = dyn_cast<WeightType>(t);
      return w && w.isMatrix() && w.getEncoding() == DType::FP8_E4M3;
    });
    if (!fp8) return op->emitError() << "'" << kFp8PerTokenAttrName << "' needs an fp8e4m3 weight to multiply";
    return success();
  }
  return op->emitError() << "unknown aprc attribute '" << attr.getName().getValue() << "'";
}

//===-------------------------------------------------------------------------------------------===//
// !aprc.weight<ENCODING, [DIMS][, LAYOUT][, SCALES]>
//===-------------------------------------------------------------------------------------------===//

namespace {

constexpr llvm::StringLiteral kPerChannel = "per_channel";
constexpr llvm::StringLiteral kPerTensor = "per_tensor";

// The encodings a weight may have: the float-valued formats, less f64 (no backend reads it).
bool isWeightEncoding(DType dtype) { return format_info(dtype).is_float_weight && dtype != DType::F64; }

}  // namespace

Type WeightType::parse(AsmParser& parser) {
  const llvm::SMLoc loc = parser.getCurrentLocation();
  std::string encodingName;
  if (parser.parseLess() || parser.parseKeywordOrString(&encodingName) || parser.parseComma()) return {};
  const std::optional<DType> encoding = dtype_from_name(encodingName);
  if (!encoding) {
    parser.emitError(loc) << "!aprc.weight: unknown encoding '" << encodingName << "'";
    return {};
  }
  llvm::SmallVector<int64_t> shape;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() -> ParseResult {
        int64_t dim = 0;
        if (parser.parseInteger(dim)) return failure();
        shape.push_back(dim);
        return success();
      }))
    return {};
  WeightLayout layout = WeightLayout::RowMajor;
  ScaleGranularity scales = ScaleGranularity::PerChannel;
  while (succeeded(parser.parseOptionalComma())) {
    const llvm::SMLoc wordLoc = parser.getCurrentLocation();
    std::string word;
    if (parser.parseKeywordOrString(&word)) return {};
    if (word == kPerChannel) {
      scales = ScaleGranularity::PerChannel;
    } else if (word == kPerTensor) {
      scales = ScaleGranularity::PerTensor;
    } else if (const std::optional<WeightLayout> named = layout_from_name(word)) {
      layout = *named;
    } else {
      parser.emitError(wordLoc) << "!aprc.weight: '" << word
                                << "' is neither a layout of formats/layouts.h nor a scale granularity (per_channel, per_tensor)";
      return {};
    }
  }
  if (parser.parseGreater()) return {};
  return parser.getChecked<WeightType>(loc, parser.getContext(), *encoding, shape, layout, scales);
}

void WeightType::print(AsmPrinter& printer) const {
  printer << "<" << dtype_name(getEncoding()) << ", [";
  llvm::interleaveComma(getShape(), printer);
  printer << "]";
  if (getLayout() != WeightLayout::RowMajor) printer << ", " << layout_name(getLayout());
  if (getEncoding() == DType::FP8_E4M3)
    printer << ", " << (getScales() == ScaleGranularity::PerTensor ? kPerTensor : kPerChannel);
  printer << ">";
}

LogicalResult WeightType::verify(llvm::function_ref<InFlightDiagnostic()> emitError, DType encoding,
                                 llvm::ArrayRef<int64_t> shape, WeightLayout layout, ScaleGranularity scales) {
  const char* enc = dtype_name(encoding);
  if (!isWeightEncoding(encoding)) return emitError() << "!aprc.weight: '" << enc << "' is not a weight encoding";
  if (shape.size() != 1 && shape.size() != 2)
    return emitError() << "!aprc.weight: shape must be [out, in] or [n], got " << shape.size() << " dims";
  for (int64_t dim : shape)
    if (dim <= 0) return emitError() << "!aprc.weight: dims must be positive, got " << dim;
  if (scales != ScaleGranularity::PerChannel && encoding != DType::FP8_E4M3)
    return emitError() << "!aprc.weight: a scale granularity belongs to fp8e4m3 weights, not " << enc;
  if (!layout_supports(layout, encoding))
    return emitError() << "!aprc.weight: layout '" << layout_name(layout) << "' is not defined for " << enc << " weights";
  const int64_t cols = shape.back();
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  if (!row_bytes(encoding, cols))
    return emitError() << "!aprc.weight: rows of " << cols << " weights are not whole " << enc << " blocks ("
                       << format_info(encoding).block_weights << " weights each)";
  if (!layout_bytes(layout, encoding, rows, cols, scales))
    return emitError() << "!aprc.weight: layout '" << layout_name(layout) << "' cannot hold a [" << rows << ", "
                       << cols << "] " << enc << " weight";
  return success();
}

//===-------------------------------------------------------------------------------------------===//
// Helpers for the op verifiers
//===-------------------------------------------------------------------------------------------===//

namespace {

int64_t rowsOf(Value v) { return cast<ShapedType>(v.getType()).getDimSize(0); }
int64_t colsOf(Value v) { return cast<ShapedType>(v.getType()).getDimSize(1); }
WeightType weightOf(Value v) { return cast<WeightType>(v.getType()); }

// Row counts agree when equal or when either is dynamic (`?`).
bool rowsCompatible(int64_t a, int64_t b) { return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b); }

std::string rowsText(int64_t rows) { return ShapedType::isDynamic(rows) ? "?" : std::to_string(rows); }

LogicalResult checkRows(Operation* op, Value result, int64_t expected, llvm::StringRef from) {
  if (rowsCompatible(rowsOf(result), expected)) return success();
  return op->emitOpError() << "result row count " << rowsText(rowsOf(result)) << " differs from the row count "
                           << rowsText(expected) << " of " << from;
}

LogicalResult checkVector(Operation* op, Value weight, int64_t length, llvm::StringRef what) {
  const WeightType type = weightOf(weight);
  if (type.isMatrix() || type.cols() != length)
    return op->emitOpError() << what << " must be a vector [" << length << "], got " << type;
  return success();
}

LogicalResult checkMatrix(Operation* op, Value weight, llvm::StringRef what) {
  if (!weightOf(weight).isMatrix())
    return op->emitOpError() << what << " must be a matrix [out, in], got " << weight.getType();
  return success();
}

// x [T, in] @ W^T: W is a matrix [out, in] and x has its `in` columns.
LogicalResult checkProjection(Operation* op, Value input, Value weight, llvm::StringRef what) {
  if (failed(checkMatrix(op, weight, what))) return failure();
  const WeightType w = weightOf(weight);
  if (colsOf(input) != w.cols())
    return op->emitOpError() << "input has " << colsOf(input) << " columns but the weight " << w << " takes " << w.cols();
  return success();
}

// What the ops that read or write a cache need of its declaration (aprc.kv_cache, or in a layer
// function aprc.layer_kv_cache).
struct CacheGeometry {
  llvm::StringRef name;
  int64_t num_kv_heads, head_dim;
  int64_t rowWidth() const { return num_kv_heads * head_dim; }
};

template <typename Declaration>
CacheGeometry geometryOf(Declaration decl) {
  return {decl.getSymName(), static_cast<int64_t>(decl.getNumKvHeads()), static_cast<int64_t>(decl.getHeadDim())};
}

// The KV cache a symbol names, or an error naming the op. A layer cache is only for the private
// layer functions (aprc.decoder_layers runs them once per layer).
FailureOr<CacheGeometry> lookupCache(Operation* op, FlatSymbolRefAttr cache, SymbolTableCollection& symbols) {
  Operation* decl = symbols.lookupNearestSymbolFrom(op, cache.getAttr());
  if (auto kv = dyn_cast_or_null<KvCacheOp>(decl))
    return geometryOf(kv);
  if (auto layer = dyn_cast_or_null<LayerKvCacheOp>(decl)) {
    Operation* fn = op->getParentOp();
    while (fn && !isa<SymbolOpInterface>(fn)) fn = fn->getParentOp();
    if (!fn || !cast<SymbolOpInterface>(fn).isPrivate())
      return op->emitOpError() << "'" << cache.getValue() << "' is a per-layer cache (aprc.layer_kv_cache): only "
                               << "a private layer function that aprc.decoder_layers runs reads it";
    return geometryOf(layer);
  }
  return op->emitOpError() << "'" << cache.getValue() << "' is not an aprc.kv_cache";
}

LogicalResult checkRowWidth(Operation* op, Value value, llvm::StringRef what, const CacheGeometry& cache) {
  if (colsOf(value) == cache.rowWidth()) return success();
  return op->emitOpError() << what << " has " << colsOf(value) << " columns but cache '" << cache.name << "' holds "
                           << cache.num_kv_heads << " kv heads of " << cache.head_dim;
}

LogicalResult checkCacheGeometry(Operation* op, int64_t numKvHeads, int64_t headDim, int64_t maxSeq) {
  if (numKvHeads <= 0 || headDim <= 0 || maxSeq <= 0)
    return op->emitOpError() << "num_kv_heads, head_dim and max_seq must be positive";
  if (headDim % 2 != 0) return op->emitOpError() << "head_dim must be even (rope rotates halves), got " << headDim;
  return success();
}

LogicalResult checkKv(Operation* op, Value k, Value v) {
  if (colsOf(k) != colsOf(v))
    return op->emitOpError() << "k has " << colsOf(k) << " columns but v has " << colsOf(v);
  if (!rowsCompatible(rowsOf(k), rowsOf(v)))
    return op->emitOpError() << "k row count " << rowsText(rowsOf(k)) << " differs from v row count "
                             << rowsText(rowsOf(v));
  return success();
}

LogicalResult checkResultNames(Operation* op, ArrayAttr names) {
  if (names.size() != op->getNumResults())
    return op->emitOpError() << "has " << op->getNumResults() << " results but " << names.size() << " result_names";
  return success();
}

}  // namespace

//===-------------------------------------------------------------------------------------------===//
// Declarations
//===-------------------------------------------------------------------------------------------===//

LogicalResult KvCacheOp::verify() { return checkCacheGeometry(*this, getNumKvHeads(), getHeadDim(), getMaxSeq()); }

LogicalResult WeightRefOp::verifySymbolUses(SymbolTableCollection& symbols) {
  Operation* decl = symbols.lookupNearestSymbolFrom(*this, getWeightAttr().getAttr());
  Type declared;
  if (auto weight = dyn_cast_or_null<WeightOp>(decl)) {
    declared = weight.getType();
  } else if (auto layer = dyn_cast_or_null<LayerWeightOp>(decl)) {
    auto fn = (*this)->getParentOfType<func::FuncOp>();
    if (!fn || fn.getSymName() != layer.getFunctionName())
      return emitOpError() << "'" << getWeight() << "' is a weight of the layer function '@" << layer.getFunctionName()
                           << "', not of '@" << (fn ? fn.getSymName() : llvm::StringRef("?")) << "'";
    declared = layer.getType();
  } else {
    return emitOpError() << "'" << getWeight() << "' is not an aprc.weight";
  }
  if (declared != getResult().getType())
    return emitOpError() << "result type " << getResult().getType() << " differs from the declared " << declared
                         << " of '" << getWeight() << "'";
  return success();
}

//===-------------------------------------------------------------------------------------------===//
// The compact form
//===-------------------------------------------------------------------------------------------===//

LogicalResult LayerWeightOp::verify() {
  if (getFunctionName().empty() || getLayerName().empty())
    return emitOpError() << "symbol '" << getSymName()
                         << "' must be FUNCTION.NAME (the layer function that reads it, the weight's name in a layer)";
  return success();
}

LogicalResult LayerKvCacheOp::verify() { return checkCacheGeometry(*this, getNumKvHeads(), getHeadDim(), getMaxSeq()); }

LogicalResult DecoderLayersOp::verifySymbolUses(SymbolTableCollection& symbols) {
  const auto activation = cast<RankedTensorType>(getInput().getType());
  const auto layerType =
      RankedTensorType::get({ShapedType::kDynamic, activation.getDimSize(1)}, activation.getElementType());
  const auto expected = FunctionType::get(getContext(), {layerType, IndexType::get(getContext())}, {layerType});
  for (auto [i, attr] : llvm::enumerate(getLayers())) {
    const auto callee = cast<FlatSymbolRefAttr>(attr);
    auto fn = symbols.lookupNearestSymbolFrom<func::FuncOp>(*this, callee.getAttr());
    if (!fn) return emitOpError() << "layer " << i << ": '" << callee.getValue() << "' is not a function";
    if (fn.getFunctionType() != expected)
      return emitOpError() << "layer " << i << ": '@" << callee.getValue() << "' has type " << fn.getFunctionType()
                           << " but a layer of this input takes " << expected;
    if (!fn.isPrivate() || fn.isExternal())
      return emitOpError() << "layer " << i << ": '@" << callee.getValue()
                           << "' must be a private function with a body";
  }
  auto module = (*this)->getParentOfType<ModuleOp>();
  if (!module) return success();
  if (auto config = module->getAttrOfType<DictionaryAttr>(AprcDialect::kConfigAttrName))
    if (auto layers = config.getAs<IntegerAttr>("num_layers"))
      if (layers.getInt() != static_cast<int64_t>(getLayers().size()))
        return emitOpError() << "lists " << getLayers().size() << " layers but the model has " << layers.getInt()
                             << " (aprc.config num_layers)";
  // Every function runs the same layers: layer i's weights and cache are one thing.
  DecoderLayersOp first;
  module.walk([&](DecoderLayersOp op) {
    first = op;
    return WalkResult::interrupt();
  });
  if (first && first != *this) {
    const auto other = first.getLayers();
    if (other.size() != getLayers().size())
      return emitOpError() << "lists " << getLayers().size() << " layers but the aprc.decoder_layers in '@"
                           << first->getParentOfType<func::FuncOp>().getSymName() << "' lists " << other.size();
    for (size_t i = 0; i < other.size(); ++i)
      if (other[i] != getLayers()[i])
        return emitOpError() << "layer " << i << " is " << getLayers()[i] << " here but " << other[i]
                             << " in '@" << first->getParentOfType<func::FuncOp>().getSymName() << "'";
  }
  return success();
}

//===-------------------------------------------------------------------------------------------===//
// Original ops
//===-------------------------------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(checkMatrix(*this, getTable(), "table"))) return failure();
  const WeightType table = weightOf(getTable());
  if (colsOf(getResult()) != table.cols())
    return emitOpError() << "result has " << colsOf(getResult()) << " columns but the table rows have " << table.cols();
  return checkRows(*this, getResult(), getIds().getType().getDimSize(0), "ids");
}

LogicalResult RmsNormOp::verify() {
  if (getEps().convertToDouble() < 0) return emitOpError() << "eps must not be negative";
  if (failed(checkVector(*this, getGamma(), colsOf(getInput()), "gamma"))) return failure();
  if (colsOf(getResult()) != colsOf(getInput()))
    return emitOpError() << "result has " << colsOf(getResult()) << " columns but the input has " << colsOf(getInput());
  return checkRows(*this, getResult(), rowsOf(getInput()), "the input");
}

LogicalResult LinearOp::verify() {
  if (failed(checkProjection(*this, getInput(), getWeight(), "weight"))) return failure();
  const WeightType w = weightOf(getWeight());
  if (colsOf(getResult()) != w.rows())
    return emitOpError() << "result has " << colsOf(getResult()) << " columns but the weight " << w << " gives " << w.rows();
  if (getBias() && failed(checkVector(*this, getBias(), w.rows(), "bias"))) return failure();
  return checkRows(*this, getResult(), rowsOf(getInput()), "the input");
}

LogicalResult RopeOp::verify() {
  const int64_t headDim = getHeadDim();
  if (headDim <= 0 || headDim % 2 != 0) return emitOpError() << "head_dim must be positive and even, got " << headDim;
  if (colsOf(getInput()) % headDim != 0)
    return emitOpError() << "input has " << colsOf(getInput()) << " columns, not a whole number of heads of " << headDim;
  if (getTheta().convertToDouble() <= 0) return emitOpError() << "theta must be positive";
  return success();
}

LogicalResult KvAppendOp::verify() { return checkKv(*this, getK(), getV()); }

LogicalResult KvAppendOp::verifySymbolUses(SymbolTableCollection& symbols) {
  FailureOr<CacheGeometry> cache = lookupCache(*this, getCacheAttr(), symbols);
  if (failed(cache)) return failure();
  return checkRowWidth(*this, getK(), "k", *cache);
}

LogicalResult AttentionOp::verifySymbolUses(SymbolTableCollection& symbols) {
  FailureOr<CacheGeometry> cache = lookupCache(*this, getCacheAttr(), symbols);
  if (failed(cache)) return failure();
  const int64_t headDim = cache->head_dim;
  const int64_t kvHeads = cache->num_kv_heads;
  if (colsOf(getQ()) % headDim != 0 || (colsOf(getQ()) / headDim) % kvHeads != 0)
    return emitOpError() << "q has " << colsOf(getQ()) << " columns, not a whole multiple of the " << kvHeads
                         << " kv heads of " << headDim << " in cache '" << cache->name << "'";
  if (getScale().convertToDouble() <= 0) return emitOpError() << "scale must be positive";
  return success();
}

LogicalResult LogitsOp::verify() {
  if (failed(checkProjection(*this, getInput(), getWeight(), "weight"))) return failure();
  const WeightType w = weightOf(getWeight());
  if (colsOf(getResult()) != w.rows())
    return emitOpError() << "result has " << colsOf(getResult()) << " columns but the vocabulary has " << w.rows();
  if (getLastOnly()) {
    if (rowsOf(getResult()) != 1)
      return emitOpError() << "with last_only the result row count must be 1, not " << rowsText(rowsOf(getResult()));
    return success();
  }
  return checkRows(*this, getResult(), rowsOf(getInput()), "the input");
}

//===-------------------------------------------------------------------------------------------===//
// Fused ops
//===-------------------------------------------------------------------------------------------===//

LogicalResult FusedLinearOp::verify() {
  const int64_t inCols = colsOf(getInput());
  if (getNorm()) {
    if (failed(checkVector(*this, getNorm(), inCols, "norm"))) return failure();
    if (!getEps()) return emitOpError() << "has a norm prologue but no eps";
    if (getEps()->convertToDouble() < 0) return emitOpError() << "eps must not be negative";
  } else if (getEps()) {
    return emitOpError() << "has an eps but no norm prologue";
  }
  if (getWeights().empty()) return emitOpError() << "needs at least one weight";
  for (Value w : getWeights())
    if (failed(checkProjection(*this, getInput(), w, "every weight"))) return failure();
  if (!getBiases().empty()) {
    if (getBiases().size() != getWeights().size())
      return emitOpError() << "has " << getBiases().size() << " biases for " << getWeights().size()
                           << " weights (give one per weight or none)";
    for (auto [w, b] : llvm::zip(getWeights(), getBiases()))
      if (failed(checkVector(*this, b, weightOf(w).rows(), "each bias"))) return failure();
  }
  if (failed(checkResultNames(*this, getResultNames()))) return failure();

  const FusedEpilogue epilogue = getEpilogue();
  if (epilogue != FusedEpilogue::residual && getResidual())
    return emitOpError() << "has a residual operand but epilogue " << stringifyFusedEpilogue(epilogue);
  size_t expectedResults = getWeights().size();
  if (epilogue == FusedEpilogue::swiglu) {
    if (getWeights().size() != 2 || weightOf(getWeights()[0]).rows() != weightOf(getWeights()[1]).rows())
      return emitOpError() << "epilogue swiglu needs two weights (gate, up) of equal rows";
    expectedResults = 1;
  } else if (epilogue == FusedEpilogue::residual) {
    if (getWeights().size() != 1) return emitOpError() << "epilogue residual needs exactly one weight";
    if (!getResidual()) return emitOpError() << "epilogue residual needs a residual operand";
    if (getResidual().getType() != getResults()[0].getType())
      return emitOpError() << "residual " << getResidual().getType() << " differs from the result "
                           << getResults()[0].getType();
    expectedResults = 1;
  }
  if (getNumResults() != expectedResults)
    return emitOpError() << "epilogue " << stringifyFusedEpilogue(epilogue) << " gives " << expectedResults
                         << " results, not " << getNumResults();
  for (size_t i = 0; i < getNumResults(); ++i) {
    const Value result = getResults()[i];
    const int64_t out = weightOf(getWeights()[i]).rows();
    if (colsOf(result) != out)
      return emitOpError() << "result #" << i << " has " << colsOf(result) << " columns but its weight gives " << out;
    if (failed(checkRows(*this, result, rowsOf(getInput()), "the input"))) return failure();
  }
  return success();
}

LogicalResult RopeKvAppendOp::verify() {
  if (getTheta().convertToDouble() <= 0) return emitOpError() << "theta must be positive";
  if (failed(checkResultNames(*this, getResultNames()))) return failure();
  return checkKv(*this, getK(), getV());
}

LogicalResult RopeKvAppendOp::verifySymbolUses(SymbolTableCollection& symbols) {
  FailureOr<CacheGeometry> cache = lookupCache(*this, getCacheAttr(), symbols);
  if (failed(cache)) return failure();
  return checkRowWidth(*this, getK(), "k", *cache);
}

LogicalResult RopeQkKvAppendOp::verify() {
  if (getTheta().convertToDouble() <= 0) return emitOpError() << "theta must be positive";
  if (failed(checkResultNames(*this, getResultNames()))) return failure();
  if (!rowsCompatible(rowsOf(getQ()), rowsOf(getK())))
    return emitOpError() << "q row count " << rowsText(rowsOf(getQ())) << " differs from k row count "
                         << rowsText(rowsOf(getK()));
  return checkKv(*this, getK(), getV());
}

LogicalResult RopeQkKvAppendOp::verifySymbolUses(SymbolTableCollection& symbols) {
  FailureOr<CacheGeometry> cache = lookupCache(*this, getCacheAttr(), symbols);
  if (failed(cache)) return failure();
  if (colsOf(getQ()) % cache->head_dim != 0)
    return emitOpError() << "q has " << colsOf(getQ()) << " columns, not a whole number of heads of "
                         << cache->head_dim << " in cache '" << cache->name << "'";
  return checkRowWidth(*this, getK(), "k", *cache);
}

}  // namespace aprc::ir
