// Walks each lowered function op by op. Every op that computes becomes one Step: the op's kind and
// types give its KernelSpec, the memory plan (aprc.offsets) gives the arena offsets of its
// activations, and kernel_spec.h fixes the order of its arguments.
#include "aprc/codegen/schedule_builder.h"

#include <map>

#include "aprc/error.h"
#include "aprc/ir/dialect.h"
#include "aprc/ir/module_impl.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::codegen {
namespace {

using namespace aprc::ir;
using mlir::Operation;
using mlir::Value;

constexpr int64_t kLinearGrain = 16;  // rows: the cpu_r16 layout's row groups

std::string describe(Operation* op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "'" << op->getName().getStringRef() << "' at " << op->getLoc();
  return os.str();
}

WeightDesc weight_desc(Value weight) {
  const auto type = mlir::cast<WeightType>(weight.getType());
  return WeightDesc{type.getEncoding(), type.getLayout(), type.getScales(), type.rows(), type.cols()};
}

int64_t cols_of(Value v) { return mlir::cast<mlir::RankedTensorType>(v.getType()).getDimSize(1); }

// The rows a value has in a call: T, or its static row count.
Expr rows_of(Value v) {
  const auto type = mlir::cast<mlir::RankedTensorType>(v.getType());
  return type.isDynamicDim(0) ? Expr::tokens() : Expr::lit(type.getDimSize(0));
}

// The name the interpreter records a value under: its op's result_names entry, or the op's NameLoc.
std::string value_name(Value v) {
  Operation* op = v.getDefiningOp();
  if (auto names = op->getAttrOfType<mlir::ArrayAttr>("result_names"))
    return mlir::cast<mlir::StringAttr>(names[mlir::cast<mlir::OpResult>(v).getResultNumber()]).str();
  if (auto loc = mlir::dyn_cast<mlir::NameLoc>(op->getLoc())) return loc.getName().str();
  return "";
}

// The original ops an op computes: the names in its location (a fused op's FusedLoc holds the
// NameLoc of every op it replaced), in order.
void location_names(mlir::Location loc, std::vector<std::string>& out) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc)) out.push_back(name.getName().str());
  if (auto fused = mlir::dyn_cast<mlir::FusedLoc>(loc))
    for (mlir::Location inner : fused.getLocations()) location_names(inner, out);
}

class FunctionScheduler {
 public:
  FunctionScheduler(mlir::func::FuncOp fn, const std::map<std::string, int64_t>& caches, const ScheduleOptions& options)
      : fn_(fn), caches_(caches), options_(options) {}

  Function build() {
    Function out;
    out.name = fn_.getSymName().str();
    auto max_tokens = fn_->getAttrOfType<mlir::IntegerAttr>(AprcDialect::kMaxTokensAttrName);
    auto arena = fn_->getAttrOfType<mlir::IntegerAttr>(AprcDialect::kArenaBytesAttrName);
    if (!max_tokens || !arena)
      throw_internal("schedule builder: @" + out.name + " has no memory plan (run aprc-lower-cpu or aprc-lower-cuda first)");
    out.max_tokens = max_tokens.getInt();
    out.arena_bytes = arena.getInt();
    mlir::Block& body = fn_.getBody().front();
    ids_ = body.getNumArguments() > 0 ? body.getArgument(0) : Value();
    for (Operation& op : body) {
      if (mlir::isa<WeightRefOp, mlir::func::ReturnOp>(op)) continue;
      Step step = schedule(&op);
      location_names(op.getLoc(), step.ops);
      step.scalars = {scalar_T_, Expr{0, 1, 0}};
      scalar_T_ = Expr::tokens();
      if (options_.finish_step) options_.finish_step(step, out.max_tokens);
      out.steps.push_back(std::move(step));
    }
    return out;
  }

 private:
  Step schedule(Operation* op) {
    Step s;
    s.extent = Expr::tokens();
    if (auto e = mlir::dyn_cast<EmbeddingOp>(op)) {
      s.spec.kind = KernelKind::Embedding;
      s.spec.weights = {weight_desc(e.getTable())};
      s.spec.cols = cols_of(e.getResult());
      s.args.push_back(ids_arg(e.getIds(), op));
      s.args.push_back(weight_arg(e.getTable()));
      add_output(s, e.getResult());
    } else if (auto n = mlir::dyn_cast<RmsNormOp>(op)) {
      s.spec.kind = KernelKind::RmsNorm;
      s.spec.weights = {weight_desc(n.getGamma())};
      s.spec.eps = n.getEps().convertToDouble();
      s.spec.cols = cols_of(n.getResult());
      s.args.push_back(activation(n.getInput()));
      s.args.push_back(weight_arg(n.getGamma()));
      add_output(s, n.getResult());
    } else if (auto l = mlir::dyn_cast<LinearOp>(op)) {
      linear(s, l.getInput(), Value(), {}, Value(), {l.getWeight()}, l.getBias() ? llvm::SmallVector<Value>{l.getBias()} : llvm::SmallVector<Value>{},
             FusedEpilogue::none, l->getResults());
    } else if (auto f = mlir::dyn_cast<FusedLinearOp>(op)) {
      linear(s, f.getInput(), f.getNorm(), f.getEps(), f.getResidual(), llvm::to_vector(f.getWeights()),
             llvm::to_vector(f.getBiases()), f.getEpilogue(), f->getResults());
    } else if (auto l = mlir::dyn_cast<LogitsOp>(op)) {
      logits(s, l);
    } else if (auto r = mlir::dyn_cast<RopeOp>(op)) {
      s.spec.kind = KernelKind::Rope;
      s.spec.head_dim = static_cast<int64_t>(r.getHeadDim());
      s.spec.heads = cols_of(r.getInput()) / s.spec.head_dim;
      s.spec.theta = r.getTheta().convertToDouble();
      s.args = {in_place(r.getInput(), r.getResult(), op)};
      name_output(s, r.getResult(), 0);
    } else if (auto a = mlir::dyn_cast<KvAppendOp>(op)) {
      kv_append(s, a.getK(), a.getV(), a.getCacheAttr(), op);
    } else if (auto a = mlir::dyn_cast<RopeKvAppendOp>(op)) {
      rope_kv_append(s, a.getK(), a.getV(), a.getResult(), a.getCacheAttr(), a.getTheta(), op);
      name_output(s, a.getResult(), 0);
    } else if (auto a = mlir::dyn_cast<RopeQkKvAppendOp>(op)) {
      rope_kv_append(s, a.getK(), a.getV(), a.getKResult(), a.getCacheAttr(), a.getTheta(), op);
      s.spec.heads = cols_of(a.getQ()) / s.spec.head_dim;
      s.args.push_back(in_place(a.getQ(), a.getQResult(), op));  // k, v, cache_k, cache_v, q
      name_output(s, a.getQResult(), 4);
      name_output(s, a.getKResult(), 0);
    } else if (auto a = mlir::dyn_cast<AttentionOp>(op)) {
      auto [cache, layer] = cache_of(a.getCacheAttr(), op);
      s.spec.kind = KernelKind::Attention;
      s.spec.kv_heads = cache.getNumKvHeads();
      s.spec.head_dim = cache.getHeadDim();
      s.spec.heads = cols_of(a.getQ()) / s.spec.head_dim;
      s.spec.scale = static_cast<float>(a.getScale().convertToDouble());
      s.args.push_back(activation(a.getQ()));
      s.args.push_back(cache_arg(ArgKind::CacheK, layer));
      s.args.push_back(cache_arg(ArgKind::CacheV, layer));
      add_output(s, a.getResult());
      s.extent = Expr::lit(s.spec.heads);
    } else if (auto e = mlir::dyn_cast<SiluOp>(op)) {
      s.spec.kind = KernelKind::Silu;
      s.spec.cols = cols_of(e.getResult());
      s.args.push_back(activation(e.getInput()));
      add_output(s, e.getResult());
    } else if (auto e = mlir::dyn_cast<MulOp>(op)) {
      s.spec.kind = KernelKind::Mul;
      s.spec.cols = cols_of(e.getResult());
      s.args.push_back(activation(e.getLhs()));
      s.args.push_back(activation(e.getRhs()));
      add_output(s, e.getResult());
    } else if (auto e = mlir::dyn_cast<AddOp>(op)) {
      s.spec.kind = KernelKind::Add;
      s.spec.cols = cols_of(e.getResult());
      s.args.push_back(activation(e.getLhs()));
      s.args.push_back(activation(e.getRhs()));
      add_output(s, e.getResult());
    } else {
      throw_internal("schedule builder: @" + fn_.getSymName().str() + ": no kernel implements " + describe(op));
    }
    s.spec.fp8_activations = op->hasAttr(AprcDialect::kFp8PerTokenAttrName);
    return s;
  }

  // x [, gamma] [, residual], W_0..W_n-1 [, b_0..b_n-1], outputs (kernel_spec.h, Linear).
  void linear(Step& s, Value input, Value norm, std::optional<llvm::APFloat> eps, Value residual,
              const llvm::SmallVector<Value>& weights, const llvm::SmallVector<Value>& biases,
              FusedEpilogue epilogue, mlir::ResultRange results) {
    s.spec.kind = KernelKind::Linear;
    s.args.push_back(activation(input));
    if (norm) {
      s.spec.has_norm = true;
      s.spec.norm = weight_desc(norm);
      s.spec.eps = eps->convertToDouble();
      s.args.push_back(weight_arg(norm));
    }
    if (residual) s.args.push_back(activation(residual));
    for (Value w : weights) {
      s.spec.weights.push_back(weight_desc(w));
      s.args.push_back(weight_arg(w));
    }
    for (Value b : biases) {
      s.spec.biases.push_back(weight_desc(b));
      s.args.push_back(weight_arg(b));
    }
    s.spec.epilogue = epilogue == FusedEpilogue::swiglu     ? Epilogue::SwiGLU
                      : epilogue == FusedEpilogue::residual ? Epilogue::Residual
                                                            : Epilogue::None;
    for (Value r : results) add_output(s, r);
    int64_t rows = 0;
    for (const WeightDesc& w : s.spec.weights) rows += w.rows;
    s.extent = Expr::lit(s.spec.epilogue == Epilogue::None ? rows : s.spec.weights[0].rows);
    s.grain = kLinearGrain;
  }

  // A Linear of one weight over the vocabulary; with last_only, over the last row of x only (a
  // call of one row, starting T - 1 rows into x).
  void logits(Step& s, LogitsOp op) {
    linear(s, op.getInput(), Value(), std::nullopt, Value(), {op.getWeight()}, {}, FusedEpilogue::none, op->getResults());
    if (!op.getLastOnly()) return;
    const int64_t row_bytes = cols_of(op.getInput()) * static_cast<int64_t>(sizeof(float));
    s.args[0].offset = Expr{row_bytes, 0, s.args[0].offset.constant - row_bytes};
    scalar_T_ = Expr::lit(1);
  }

  // k, v, cache_k, cache_v (kernel_spec.h, KvAppend).
  void kv_append(Step& s, Value k, Value v, mlir::FlatSymbolRefAttr symbol, Operation* op) {
    auto [cache, layer] = cache_of(symbol, op);
    s.spec.kind = KernelKind::KvAppend;
    s.spec.kv_heads = cache.getNumKvHeads();
    s.spec.head_dim = cache.getHeadDim();
    s.args = {activation(k), activation(v), cache_arg(ArgKind::CacheK, layer), cache_arg(ArgKind::CacheV, layer)};
  }

  // kv_append of k rotated in place first (into k_result's buffer; the caller names the outputs).
  void rope_kv_append(Step& s, Value k, Value v, Value k_result, mlir::FlatSymbolRefAttr symbol, llvm::APFloat theta,
                      Operation* op) {
    kv_append(s, k, v, symbol, op);
    s.spec.rope = true;
    s.spec.theta = theta.convertToDouble();
    s.args[0] = in_place(k, k_result, op);
  }

  std::pair<KvCacheOp, int64_t> cache_of(mlir::FlatSymbolRefAttr symbol, Operation* op) {
    auto cache = mlir::SymbolTable::lookupNearestSymbolFrom<KvCacheOp>(op, symbol);
    const auto it = caches_.find(symbol.getValue().str());
    if (!cache || it == caches_.end()) throw_internal("schedule builder: " + describe(op) + " names no aprc.kv_cache");
    return {cache, it->second};
  }

  // --- arguments ---------------------------------------------------------------------------

  static int64_t planned_offset(Value v) {
    auto offsets = v.getDefiningOp()->getAttrOfType<mlir::DenseI64ArrayAttr>(AprcDialect::kOffsetsAttrName);
    if (!offsets) throw_internal("schedule builder: " + describe(v.getDefiningOp()) + " has no aprc.offsets");
    return offsets[mlir::cast<mlir::OpResult>(v).getResultNumber()];
  }

  Arg activation(Value v) {
    if (!v.getDefiningOp()) throw_internal("schedule builder: @" + fn_.getSymName().str() + " reads an activation argument");
    const int64_t offset = planned_offset(v);
    if (offset == AprcDialect::kFunctionOutput) return Arg{ArgKind::Logits, 0, Expr::lit(0)};
    return Arg{ArgKind::Arena, 0, Expr::lit(offset)};
  }

  // Appends the argument an output is written to, named for verify.
  void add_output(Step& s, Value result) {
    name_output(s, result, static_cast<int>(s.args.size()));
    s.args.push_back(activation(result));
  }

  // An operand the kernel writes its result over: the memory plan must have given both one buffer.
  Arg in_place(Value operand, Value result, Operation* op) {
    const Arg arg = activation(operand);
    if (!(activation(result) == arg))
      throw_internal("schedule builder: " + describe(op) + " writes in place, but the memory plan gave its result another buffer");
    return arg;
  }

  static void name_output(Step& s, Value result, int arg) {
    const std::string name = value_name(result);
    if (name.empty()) return;
    const int64_t cols = cols_of(result);
    s.outputs.push_back(OutputName{name, arg, 0, cols, cols, rows_of(result)});
  }

  Arg weight_arg(Value weight) {
    auto ref = weight.getDefiningOp<WeightRefOp>();
    if (!ref) throw_internal("schedule builder: @" + fn_.getSymName().str() + " reads a weight that is not an aprc.weight_ref");
    return Arg{ArgKind::Weight, options_.weight_index(ref.getWeight().str()), Expr::lit(0)};
  }

  Arg ids_arg(Value ids, Operation* op) {
    if (ids != ids_) throw_internal("schedule builder: " + describe(op) + " reads ids other than the function's");
    return Arg{ArgKind::InputIds, 0, Expr::lit(0)};
  }

  static Arg cache_arg(ArgKind kind, int64_t layer) { return Arg{kind, layer, Expr::lit(0)}; }

  mlir::func::FuncOp fn_;
  const std::map<std::string, int64_t>& caches_;
  const ScheduleOptions& options_;
  Value ids_;
  Expr scalar_T_ = Expr::tokens();  // the step's row count: T, or 1 for the last-row logits
};

}  // namespace

std::vector<PlanWeight> declared_weights(const ir::Module& module) {
  std::vector<PlanWeight> out;
  for (WeightOp w : mlir_module(module).getOps<WeightOp>()) {
    const WeightType type = w.getWeightType();
    PlanWeight pw;
    pw.name = w.getSymName().str();
    pw.source = w.getSource().str();
    pw.dtype = type.getEncoding();
    pw.layout = type.getLayout();
    pw.scales = type.getScales();
    pw.shape = type.getShape().vec();
    out.push_back(std::move(pw));
  }
  return out;
}

KvCacheGeometry kv_cache_geometry(const ir::Module& module) {
  KvCacheGeometry g;
  for (KvCacheOp c : mlir_module(module).getOps<KvCacheOp>()) {
    const auto kv_heads = static_cast<int64_t>(c.getNumKvHeads()), head_dim = static_cast<int64_t>(c.getHeadDim());
    const auto max_seq = static_cast<int64_t>(c.getMaxSeq());
    if (g.layers > 0 && (kv_heads != g.kv_heads || head_dim != g.head_dim || max_seq != g.max_context))
      throw_bad_input("aprc.kv_cache @" + c.getSymName().str() + " differs from the first layer's cache");
    g.kv_heads = kv_heads;
    g.head_dim = head_dim;
    g.max_context = max_seq;
    ++g.layers;
  }
  g.dtype = DType::F32;
  return g;
}

std::vector<Function> build_schedules(const ir::Module& lowered, const ScheduleOptions& options) {
  mlir::ModuleOp module = mlir_module(lowered);
  std::map<std::string, int64_t> caches;
  for (KvCacheOp c : module.getOps<KvCacheOp>()) caches.emplace(c.getSymName().str(), static_cast<int64_t>(caches.size()));
  std::vector<Function> out;
  for (mlir::func::FuncOp fn : module.getOps<mlir::func::FuncOp>())
    if (!fn.isExternal()) out.push_back(FunctionScheduler(fn, caches, options).build());
  return out;
}

}  // namespace aprc::codegen
