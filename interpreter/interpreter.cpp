// The interpreter's walk over aprc IR: each op of the function's body, in order, evaluated with
// reference_ops.h. Values live in a map until their last use. The only MLIR-heavy file here.
#include "aprc/interpreter/interpreter.h"

#include <optional>

#include "aprc/error.h"
#include "aprc/ir/dialect.h"
#include "aprc/ir/module_impl.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::reference {

using mlir::Operation;
using mlir::Value;

namespace {

std::string op_text(Operation* op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "'" << op->getName().getStringRef() << "' at " << op->getLoc();
  return os.str();
}

// The name an op's results are recorded under: its NameLoc (the frontend's op names).
std::optional<std::string> op_name(Operation* op) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(op->getLoc())) return name.getName().str();
  return std::nullopt;
}

}  // namespace

struct Interpreter::State {
  mlir::ModuleOp module;
  const WeightSource& source;
  std::map<std::string, WeightDecl> decls;  // by symbol
  std::map<std::string, Weight> weights;    // resolved on first use, by symbol
  std::map<std::string, KvCache> caches;    // by symbol

  State(mlir::ModuleOp module, const WeightSource& source) : module(module), source(source) {
    for (Operation& op : module.getBody()->getOperations()) {
      if (auto w = mlir::dyn_cast<ir::WeightOp>(op)) {
        const ir::WeightType type = w.getWeightType();
        decls[w.getSymName().str()] = WeightDecl{w.getSymName().str(), w.getSource().str(), type.getEncoding(),
                                                 type.getShape().vec(),  type.getLayout(),  type.getScales()};
      } else if (auto c = mlir::dyn_cast<ir::KvCacheOp>(op)) {
        KvCache& cache = caches[c.getSymName().str()];
        cache.kv_heads = c.getNumKvHeads();
        cache.head_dim = c.getHeadDim();
        cache.max_seq = c.getMaxSeq();
      }
    }
  }

  // The weight behind a symbol, its bytes checked against the declared type.
  const Weight& weight(const std::string& symbol) {
    if (auto it = weights.find(symbol); it != weights.end()) return it->second;
    auto decl_it = decls.find(symbol);
    if (decl_it == decls.end()) throw_bad_input("aprc.weight_ref of an undeclared weight @" + symbol);
    const WeightDecl& decl = decl_it->second;
    TensorView view = source.weight(decl);
    const std::string where = "weight @" + symbol + " (tensor '" + decl.source + "')";
    if (view.dtype != decl.dtype || view.shape != decl.shape)
      throw_bad_input(where + ": the weights hold " + dtype_name(view.dtype) + " " + shape_text(view.shape) +
                      ", the IR declares " + dtype_name(decl.dtype) + " " + shape_text(decl.shape));
    const auto bytes = layout_bytes(decl.layout, decl.dtype, view.rows(), view.cols(), decl.scales);
    if (!bytes || view.bytes.size() < *bytes)
      throw_bad_input(where + ": " + std::to_string(view.bytes.size()) + " bytes, fewer than its " +
                      layout_name(decl.layout) + " " + dtype_name(decl.dtype) + " type needs");
    view.scales = decl.scales;
    return weights.emplace(symbol, Weight{view, decl.layout}).first->second;
  }

  KvCache& cache(mlir::FlatSymbolRefAttr symbol) {
    auto it = caches.find(symbol.getValue().str());
    if (it == caches.end()) throw_bad_input("no aprc.kv_cache @" + symbol.getValue().str());
    return it->second;
  }

  static std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

namespace {

// One call of one function: the values computed so far and the call's inputs.
class Frame {
 public:
  Frame(Interpreter::State& state, std::span<const int32_t> ids, int64_t pos, ValueRecorder* recorder)
      : state_(state), ids_(ids), pos_(pos), recorder_(recorder) {}

  Activation call(mlir::func::FuncOp fn) {
    std::string name = "@";  // built by appending: GCC 12 warns falsely on "@" + std::string
    name += fn.getSymName().str();
    mlir::Block& body = fn.getBody().front();
    if (body.getNumArguments() != 2 || !mlir::isa<mlir::RankedTensorType>(body.getArgument(0).getType()) ||
        !body.getArgument(1).getType().isIndex())
      throw_bad_input(name + " does not take (ids: tensor<?xi32>, pos: index)");
    const int64_t want = mlir::cast<mlir::RankedTensorType>(body.getArgument(0).getType()).getDimSize(0);
    if (!mlir::ShapedType::isDynamic(want) && want != static_cast<int64_t>(ids_.size()))
      throw_bad_input(name + " takes " + std::to_string(want) + (want == 1 ? " token" : " tokens") + ", got " +
                      std::to_string(ids_.size()));
    if (ids_.empty()) throw_bad_input(name + ": no tokens to run");
    ids_value_ = body.getArgument(0);
    pos_value_ = body.getArgument(1);

    for (Operation& op : body.getOperations()) {
      if (auto ret = mlir::dyn_cast<mlir::func::ReturnOp>(op)) {
        if (ret.getNumOperands() != 1) throw_bad_input(name + " must return one value");
        return take(ret.getOperand(0));
      }
      execute(&op);
      release_operands(&op);
    }
    throw_bad_input(name + " has no return");
  }

 private:
  void execute(Operation* op) {
    using namespace ir;
    if (auto w = mlir::dyn_cast<WeightRefOp>(op)) {
      weights_[w.getResult()] = &state_.weight(w.getWeight().str());
    } else if (auto e = mlir::dyn_cast<EmbeddingOp>(op)) {
      if (e.getIds() != ids_value_) unsupported(op, "ids other than the function's argument");
      define(e.getResult(), embedding(ids_, weight(e.getTable())));
    } else if (auto n = mlir::dyn_cast<RmsNormOp>(op)) {
      define(n.getResult(), rms_norm(value(n.getInput()), weight(n.getGamma()), n.getEps().convertToDouble()));
    } else if (auto l = mlir::dyn_cast<LinearOp>(op)) {
      const Weight& w = weight(l.getWeight());
      define(l.getResult(), linear(product_input(op, value(l.getInput()), w), w, optional_weight(l.getBias())));
    } else if (auto r = mlir::dyn_cast<RopeOp>(op)) {
      define(r.getResult(),
             rope(value(r.getInput()), pos(r.getPos()), r.getHeadDim(), r.getTheta().convertToDouble()));
    } else if (auto a = mlir::dyn_cast<KvAppendOp>(op)) {
      kv_append(state_.cache(a.getCacheAttr()), value(a.getK()), value(a.getV()), pos(a.getPos()));
    } else if (auto a = mlir::dyn_cast<AttentionOp>(op)) {
      define(a.getResult(), attention(value(a.getQ()), state_.cache(a.getCacheAttr()), pos(a.getPos()),
                                      a.getScale().convertToDouble()));
    } else if (auto s = mlir::dyn_cast<SiluOp>(op)) {
      define(s.getResult(), silu(value(s.getInput())));
    } else if (auto m = mlir::dyn_cast<MulOp>(op)) {
      define(m.getResult(), mul(value(m.getLhs()), value(m.getRhs())));
    } else if (auto a = mlir::dyn_cast<AddOp>(op)) {
      define(a.getResult(), add(value(a.getLhs()), value(a.getRhs())));
    } else if (auto l = mlir::dyn_cast<LogitsOp>(op)) {
      const Weight& w = weight(l.getWeight());
      const Activation& x = value(l.getInput());
      define(l.getResult(), l.getLastOnly() ? linear(product_input(op, last_row(x), w), w, nullptr)
                                            : linear(product_input(op, x, w), w, nullptr));
    } else if (auto f = mlir::dyn_cast<FusedLinearOp>(op)) {
      fused_linear(f);
    } else if (auto r = mlir::dyn_cast<RopeKvAppendOp>(op)) {
      KvCache& cache = state_.cache(r.getCacheAttr());
      Activation k = rope(value(r.getK()), pos(r.getPos()), cache.head_dim, r.getTheta().convertToDouble());
      kv_append(cache, k, value(r.getV()), pos(r.getPos()));
      define(r.getResult(), std::move(k), r.getResultNames());
    } else if (auto r = mlir::dyn_cast<RopeQkKvAppendOp>(op)) {
      KvCache& cache = state_.cache(r.getCacheAttr());
      const double theta = r.getTheta().convertToDouble();
      Activation q = rope(value(r.getQ()), pos(r.getPos()), cache.head_dim, theta);
      Activation k = rope(value(r.getK()), pos(r.getPos()), cache.head_dim, theta);
      kv_append(cache, k, value(r.getV()), pos(r.getPos()));
      define(r.getQResult(), std::move(q), r.getResultNames(), 0);
      define(r.getKResult(), std::move(k), r.getResultNames(), 1);
    } else {
      unsupported(op, "this op");
    }
  }

  void fused_linear(ir::FusedLinearOp op) {
    const Activation& input = value(op.getInput());
    std::optional<Activation> normed;
    if (op.getNorm()) normed = rms_norm(input, weight(op.getNorm()), op.getEps()->convertToDouble());
    const Activation& h = normed ? *normed : input;
    std::vector<Activation> ys;
    for (size_t i = 0; i < op.getWeights().size(); ++i) {
      const Weight& w = weight(op.getWeights()[i]);
      ys.push_back(linear(product_input(op, h, w), w, op.getBiases().empty() ? nullptr : &weight(op.getBiases()[i])));
    }
    switch (op.getEpilogue()) {
      case ir::FusedEpilogue::none:
        for (size_t i = 0; i < ys.size(); ++i)
          define(op.getResults()[i], std::move(ys[i]), op.getResultNames(), static_cast<unsigned>(i));
        return;
      case ir::FusedEpilogue::swiglu:
        define(op.getResults()[0], mul(silu(ys[0]), ys[1]), op.getResultNames());
        return;
      case ir::FusedEpilogue::residual:
        define(op.getResults()[0], add(value(op.getResidual()), ys[0]), op.getResultNames());
        return;
    }
  }

  // What a matrix product of `op` multiplies with `w`: x itself, or x quantized per token to e4m3
  // when the op asks for fp8 activations and the weight is fp8 (AprcDialect.td).
  static Activation product_input(Operation* op, Activation x, const Weight& w) {
    if (w.view.dtype == DType::FP8_E4M3 && op->hasAttr(ir::AprcDialect::kFp8PerTokenAttrName)) return fp8_per_token(x);
    return x;
  }

  [[noreturn]] void unsupported(Operation* op, const char* what) {
    throw_bad_input("the reference interpreter cannot run " + op_text(op) + ": " + what + " is not supported");
  }

  const Activation& value(Value v) {
    auto it = values_.find(v);
    if (it == values_.end()) throw_internal("interpreter: a value is used before it is computed");
    return it->second;
  }

  Activation take(Value v) {
    Activation out = value(v);
    values_.erase(v);
    return out;
  }

  const Weight& weight(Value v) {
    auto it = weights_.find(v);
    if (it == weights_.end()) throw_bad_input("the reference interpreter only reads weights through aprc.weight_ref");
    return *it->second;
  }

  const Weight* optional_weight(Value v) { return v ? &weight(v) : nullptr; }

  int64_t pos(Value v) {
    if (v != pos_value_) throw_bad_input("the reference interpreter only takes positions from the function's argument");
    return pos_;
  }

  // Stores a result, recording it under its op's name (or under result_names[index]).
  void define(Value result, Activation value, mlir::ArrayAttr names = {}, unsigned index = 0) {
    if (recorder_) {
      std::optional<std::string> name;
      if (names)
        name = mlir::cast<mlir::StringAttr>(names[index]).str();
      else
        name = op_name(result.getDefiningOp());
      if (name) recorder_->record(*name, value);
    }
    if (!result.use_empty()) values_[result] = std::move(value);
  }

  // Drops activations whose every user has now run, so that memory stays at a few live values.
  void release_operands(Operation* op) {
    for (Value operand : op->getOperands()) {
      auto it = values_.find(operand);
      if (it == values_.end()) continue;
      const bool all_done = llvm::all_of(operand.getUsers(), [&](Operation* user) {
        return user == op || user->isBeforeInBlock(op);
      });
      if (all_done) values_.erase(it);
    }
  }

  Interpreter::State& state_;
  std::span<const int32_t> ids_;
  int64_t pos_;
  ValueRecorder* recorder_;
  Value ids_value_, pos_value_;
  llvm::DenseMap<Value, Activation> values_;
  llvm::DenseMap<Value, const Weight*> weights_;
};

}  // namespace

Interpreter::Interpreter(const ir::Module& module, const WeightSource& weights)
    : state_(std::make_unique<State>(ir::mlir_module(module), weights)) {}

Interpreter::~Interpreter() = default;

Activation Interpreter::run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                            ValueRecorder* recorder) {
  auto fn = state_->module.lookupSymbol<mlir::func::FuncOp>(function);
  if (!fn || fn.isExternal()) throw_bad_input("the module has no function @" + function);
  if (pos < 0) throw_bad_input("@" + function + ": negative position " + std::to_string(pos));
  return Frame(*state_, ids, pos, recorder).call(fn);
}

void Interpreter::reset() {
  for (auto& [symbol, cache] : state_->caches) {
    cache.length = 0;
    cache.k.clear();
    cache.v.clear();
  }
}

int64_t Interpreter::cached_positions() const {
  int64_t positions = 0;
  for (const auto& [symbol, cache] : state_->caches) positions = std::max(positions, cache.length);
  return positions;
}

}  // namespace aprc::reference
