// Model -> aprc module. One weight symbol per tensor the graph reads (named after the op that reads
// it: `layers.0.attn.q_proj.weight`), one KV cache per layer, and three functions that differ only
// in their row counts and in what the logits op keeps.
#include "aprc/ir/builder.h"

#include <cmath>
#include <map>
#include <vector>

#include "aprc/error.h"
#include "aprc/ir/dialect.h"
#include "aprc/ir/module_impl.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

namespace aprc::ir {
namespace {

using mlir::Value;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The three entry points: which rows the activations have and which rows of logits come back.
enum class Entry { Prefill, PrefillLast, Decode };

class ModuleBuilder {
 public:
  ModuleBuilder(const Model& model, Module::Impl& impl)
      : model_(model), config_(model.config), ctx_(&impl.context), b_(ctx_) {
    impl.module = mlir::ModuleOp::create(b_.getUnknownLoc());
    module_ = *impl.module;
  }

  void build() {
    check_config();
    module_->setAttr(AprcDialect::kConfigAttrName, config_attr());
    b_.setInsertionPointToEnd(module_.getBody());
    declare_weights();
    for (int64_t layer = 0; layer < config_.num_layers; ++layer)
      b_.create<KvCacheOp>(b_.getUnknownLoc(), cache_symbol(layer), config_.num_kv_heads, config_.head_dim,
                           config_.max_position_embeddings);
    build_function("prefill", Entry::Prefill);
    build_function("prefill_last", Entry::PrefillLast);
    build_function("decode", Entry::Decode);
    if (mlir::failed(mlir::verify(module_)))
      throw_internal(model_.path + ": the IR builder produced a module that does not verify");
  }

 private:
  // --- model checks and declarations -------------------------------------------------------

  // The frontend's config checks, plus what the IR cannot express.
  void check_config() const {
    aprc::check_config(config_, model_.path);
    if (config_.rope_type != RopeType::Neox)
      throw_bad_input(model_.path + ": config: rope type 'normal' is not supported (Qwen2 uses NeoX rotate-half)");
  }

  mlir::DictionaryAttr config_attr() {
    const ModelConfig& c = config_;
    auto i64 = [&](int64_t v) { return b_.getI64IntegerAttr(v); };
    llvm::SmallVector<mlir::NamedAttribute> entries = {
        b_.getNamedAttr("architecture", b_.getStringAttr(c.architecture)),
        b_.getNamedAttr("hidden_size", i64(c.hidden_size)),
        b_.getNamedAttr("num_layers", i64(c.num_layers)),
        b_.getNamedAttr("num_heads", i64(c.num_heads)),
        b_.getNamedAttr("num_kv_heads", i64(c.num_kv_heads)),
        b_.getNamedAttr("head_dim", i64(c.head_dim)),
        b_.getNamedAttr("intermediate_size", i64(c.intermediate_size)),
        b_.getNamedAttr("vocab_size", i64(c.vocab_size)),
        b_.getNamedAttr("rope_theta", b_.getF64FloatAttr(c.rope_theta)),
        b_.getNamedAttr("rope_type", b_.getStringAttr("neox")),
        b_.getNamedAttr("rms_norm_eps", b_.getF64FloatAttr(c.rms_norm_eps)),
        b_.getNamedAttr("max_position_embeddings", i64(c.max_position_embeddings)),
        b_.getNamedAttr("tied_embeddings", b_.getBoolAttr(c.tied_embeddings)),
    };
    return b_.getDictionaryAttr(entries);
  }

  // Declares `symbol` for `tensor`, which must have `shape`.
  void declare(const std::string& symbol, const TensorRef& tensor, const std::vector<int64_t>& shape) {
    const std::string where = model_.path + ": tensor '" + tensor.name + "'";
    if (tensor.shape != shape)
      throw_bad_input(where + ": shape " + shape_text(tensor.shape) + ", expected " + shape_text(shape) +
                      " from the config");
    const FormatInfo& f = format_info(tensor.dtype);
    if (!f.is_float_weight || tensor.dtype == DType::F64)
      throw_bad_input(where + ": dtype " + f.name + " is not a weight encoding aprc compiles");
    if (!row_bytes(tensor.dtype, shape.back()))
      throw_bad_input(where + ": rows of " + std::to_string(shape.back()) + " weights are not whole " + f.name +
                      " blocks (" + std::to_string(f.block_weights) + " weights each)");
    auto type = WeightType::get(ctx_, tensor.dtype, shape);
    b_.create<WeightOp>(b_.getUnknownLoc(), b_.getStringAttr(symbol), mlir::TypeAttr::get(type),
                        b_.getStringAttr(tensor.name));
    weights_.emplace(symbol, type);
  }

  void declare(const std::string& symbol, const std::string& tensor, const std::vector<int64_t>& shape) {
    declare(symbol, model_.tensor(tensor), shape);
  }

  // Declares a bias when the model has one; returns whether it did.
  bool declare_optional(const std::string& symbol, const std::string& tensor, int64_t length) {
    const TensorRef* t = model_.find(tensor);
    if (t) declare(symbol, *t, {length});
    return t != nullptr;
  }

  void declare_weights() {
    const ModelConfig& c = config_;
    const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    const int64_t ff = c.intermediate_size;
    declare("embed.weight", names::embed_tokens(), {c.vocab_size, h});
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = layer_prefix(i);
      auto t = [&](const char* rest) { return names::layer(i, rest); };
      declare(p + "attn_norm.weight", t("input_layernorm.weight"), {h});
      struct Projection {
        const char* op;
        const char* tensor;
        int64_t out, in;
      };
      const Projection projections[] = {
          {"attn.q_proj", "self_attn.q_proj", q, h},  {"attn.k_proj", "self_attn.k_proj", kv, h},
          {"attn.v_proj", "self_attn.v_proj", kv, h}, {"attn.o_proj", "self_attn.o_proj", h, q},
          {"mlp.gate_proj", "mlp.gate_proj", ff, h},  {"mlp.up_proj", "mlp.up_proj", ff, h},
          {"mlp.down_proj", "mlp.down_proj", h, ff},
      };
      for (const Projection& pr : projections) {
        const std::string tensor = std::string(pr.tensor);
        declare(p + pr.op + ".weight", t((tensor + ".weight").c_str()), {pr.out, pr.in});
        declare_optional(p + pr.op + ".bias", t((tensor + ".bias").c_str()), pr.out);
      }
      declare(p + "mlp_norm.weight", t("post_attention_layernorm.weight"), {h});
    }
    declare("final_norm.weight", names::final_norm(), {h});
    declare("logits.weight", model_.output_weight(), {c.vocab_size, h});
  }

  static std::string layer_prefix(int64_t layer) { return "layers." + std::to_string(layer) + "."; }
  static std::string cache_symbol(int64_t layer) { return layer_prefix(layer) + "kv"; }

  // --- function bodies ---------------------------------------------------------------------

  mlir::Location name_loc(const std::string& name) { return mlir::NameLoc::get(b_.getStringAttr(name)); }

  Value weight(const std::string& symbol) {
    auto it = weights_.find(symbol);
    if (it == weights_.end()) return nullptr;
    return b_.create<WeightRefOp>(name_loc(symbol), it->second, symbol);
  }

  mlir::RankedTensorType rows_of(int64_t cols) {
    return mlir::RankedTensorType::get({rows_, cols}, b_.getF32Type());
  }

  Value linear(const std::string& name, Value x, int64_t out) {
    Value w = weight(name + ".weight");
    Value bias = weight(name + ".bias");
    return b_.create<LinearOp>(name_loc(name), rows_of(out), x, w, bias);
  }

  Value rms_norm(const std::string& name, Value x) {
    return b_.create<RmsNormOp>(name_loc(name), x.getType(), x, weight(name + ".weight"),
                                b_.getF64FloatAttr(config_.rms_norm_eps));
  }

  Value rope(const std::string& name, Value x, Value pos) {
    return b_.create<RopeOp>(name_loc(name), x.getType(), x, pos, b_.getF64FloatAttr(config_.rope_theta),
                             b_.getI64IntegerAttr(config_.head_dim));
  }

  Value layer(int64_t i, Value x, Value pos) {
    const ModelConfig& c = config_;
    const std::string p = layer_prefix(i);
    const auto cache = mlir::FlatSymbolRefAttr::get(ctx_, cache_symbol(i));

    Value h = rms_norm(p + "attn_norm", x);
    Value q = linear(p + "attn.q_proj", h, c.num_heads * c.head_dim);
    Value k = linear(p + "attn.k_proj", h, c.num_kv_heads * c.head_dim);
    Value v = linear(p + "attn.v_proj", h, c.num_kv_heads * c.head_dim);
    q = rope(p + "attn.q_rope", q, pos);
    k = rope(p + "attn.k_rope", k, pos);
    b_.create<KvAppendOp>(name_loc(p + "attn.kv_append"), k, v, cache, pos);
    Value a = b_.create<AttentionOp>(name_loc(p + "attn.attention"), q.getType(), q, cache, pos,
                                     b_.getF64FloatAttr(1.0 / std::sqrt(static_cast<double>(c.head_dim))));
    Value o = linear(p + "attn.o_proj", a, c.hidden_size);
    x = b_.create<AddOp>(name_loc(p + "attn_residual"), x, o);

    h = rms_norm(p + "mlp_norm", x);
    Value gate = linear(p + "mlp.gate_proj", h, c.intermediate_size);
    Value up = linear(p + "mlp.up_proj", h, c.intermediate_size);
    Value act = b_.create<SiluOp>(name_loc(p + "mlp.silu"), gate);
    Value prod = b_.create<MulOp>(name_loc(p + "mlp.mul"), act, up);
    Value down = linear(p + "mlp.down_proj", prod, c.hidden_size);
    return b_.create<AddOp>(name_loc(p + "mlp_residual"), x, down);
  }

  void build_function(const std::string& name, Entry entry) {
    const ModelConfig& c = config_;
    rows_ = entry == Entry::Decode ? 1 : mlir::ShapedType::kDynamic;
    const auto ids_type = mlir::RankedTensorType::get({rows_}, b_.getI32Type());
    const int64_t out_rows = entry == Entry::Prefill ? rows_ : 1;
    const auto logits_type = mlir::RankedTensorType::get({out_rows, c.vocab_size}, b_.getF32Type());
    auto fn_type = b_.getFunctionType({ids_type, b_.getIndexType()}, {logits_type});

    mlir::OpBuilder::InsertionGuard guard(b_);
    auto fn = b_.create<mlir::func::FuncOp>(name_loc(name), name, fn_type);
    mlir::Block* body = b_.createBlock(&fn.getBody(), {}, {ids_type, b_.getIndexType()}, {name_loc("ids"), name_loc("pos")});
    b_.setInsertionPointToStart(body);
    Value ids = body->getArgument(0), pos = body->getArgument(1);

    Value x = b_.create<EmbeddingOp>(name_loc("embed"), rows_of(c.hidden_size), ids, weight("embed.weight"));
    for (int64_t i = 0; i < c.num_layers; ++i) x = layer(i, x, pos);
    x = rms_norm("final_norm", x);
    const bool last_only = entry == Entry::PrefillLast;
    Value logits = b_.create<LogitsOp>(name_loc("logits"), logits_type, x, weight("logits.weight"),
                                       last_only ? b_.getUnitAttr() : mlir::UnitAttr());
    b_.create<mlir::func::ReturnOp>(name_loc(name), logits);
  }

  const Model& model_;
  const ModelConfig& config_;
  mlir::MLIRContext* ctx_;
  mlir::OpBuilder b_;
  mlir::ModuleOp module_;
  std::map<std::string, WeightType> weights_;
  int64_t rows_ = mlir::ShapedType::kDynamic;
};

}  // namespace

Module build_module(const Model& model) {
  std::unique_ptr<Module::Impl> impl = make_module_impl();
  ModuleBuilder(model, *impl).build();
  return Module(std::move(impl));
}

}  // namespace aprc::ir
