// Model -> aprc module, in the compact form: the decoder layers grouped by the types of their
// weights, one private layer function per group over layer weights (`@layer_a.attn.q_proj.weight`,
// the source templated by layer) and the layer cache `@kv`, and three functions that differ only in
// their row counts and in what the logits op keeps, each running the layers with one
// aprc.decoder_layers. build_module expands it (expand_layers.h) into one weight symbol per tensor
// (`layers.0.attn.q_proj.weight`), one cache per layer and every op of every layer.
#include "aprc/ir/builder.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "aprc/error.h"
#include "aprc/ir/dialect.h"
#include "aprc/ir/expand_layers.h"
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
    const ModelConfig& c = config_;
    declare("embed.weight", model_.tensor(names::embed_tokens()), {c.vocab_size, c.hidden_size});
    std::vector<std::string> layer_functions;
    std::vector<std::vector<LayerWeight>> groups;
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::vector<LayerWeight> weights = layer_weights(i);
      const auto same = std::find(groups.begin(), groups.end(), weights);
      layer_functions.push_back(group_name(static_cast<size_t>(same - groups.begin())));
      if (same == groups.end()) groups.push_back(weights);
    }
    for (size_t g = 0; g < groups.size(); ++g)
      for (const LayerWeight& w : groups[g]) {
        const std::string symbol = group_name(g) + "." + w.name;
        b_.create<LayerWeightOp>(b_.getUnknownLoc(), b_.getStringAttr(symbol), mlir::TypeAttr::get(w.type),
                                 b_.getStringAttr(w.source));
        weights_.emplace(symbol, w.type);
      }
    declare("final_norm.weight", model_.tensor(names::final_norm()), {c.hidden_size});
    declare("logits.weight", model_.output_weight(), {c.vocab_size, c.hidden_size});
    b_.create<LayerKvCacheOp>(b_.getUnknownLoc(), kLayerCache, c.num_kv_heads, c.head_dim, c.max_position_embeddings);
    for (size_t g = 0; g < groups.size(); ++g) build_layer_function(group_name(g));
    build_function("prefill", Entry::Prefill, layer_functions);
    build_function("prefill_last", Entry::PrefillLast, layer_functions);
    build_function("decode", Entry::Decode, layer_functions);
    if (mlir::failed(mlir::verify(module_)))
      throw_internal(model_.path + ": the IR builder produced a module that does not verify");
  }

 private:
  // One weight of a decoder layer: its name in the layer (`attn.q_proj.weight`), its tensor's
  // name with `{}` for the layer index, its type. Layers of equal lists share a layer function.
  struct LayerWeight {
    std::string name, source;
    WeightType type;
    bool operator==(const LayerWeight&) const = default;
  };

  // The layer cache's symbol; layer i's is `layers.i.kv`.
  static constexpr const char* kLayerCache = "kv";

  // layer_a, layer_b, ..., layer_z, layer_aa, ...
  static std::string group_name(size_t group) {
    std::string letters;
    for (size_t n = group + 1; n > 0; n = (n - 1) / 26)
      letters.insert(letters.begin(), static_cast<char>('a' + (n - 1) % 26));
    return "layer_" + letters;
  }

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

  // The type of `tensor`, which must have `shape`.
  WeightType checked_type(const TensorRef& tensor, const std::vector<int64_t>& shape) {
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
    return WeightType::get(ctx_, tensor.dtype, shape);
  }

  // Declares `symbol` for `tensor`, which must have `shape`.
  void declare(const std::string& symbol, const TensorRef& tensor, const std::vector<int64_t>& shape) {
    auto type = checked_type(tensor, shape);
    b_.create<WeightOp>(b_.getUnknownLoc(), b_.getStringAttr(symbol), mlir::TypeAttr::get(type),
                        b_.getStringAttr(tensor.name));
    weights_.emplace(symbol, type);
  }

  // The weights of layer i, in the order of its ops; a bias only where the model has one.
  std::vector<LayerWeight> layer_weights(int64_t i) {
    const ModelConfig& c = config_;
    const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    const int64_t ff = c.intermediate_size;
    // model.layers.I.REST -> model.layers.{}.REST
    const std::string prefix = names::layer(i, ""), index = std::to_string(i);
    const size_t at = prefix.rfind(index);
    const std::string templated = prefix.substr(0, at) + "{}" + prefix.substr(at + index.size());
    std::vector<LayerWeight> weights;
    auto add = [&](const std::string& name, const std::string& rest, const std::vector<int64_t>& shape, bool optional) {
      const TensorRef* t = model_.find(prefix + rest);
      if (!t && optional) return;
      weights.push_back({name, templated + rest, checked_type(t ? *t : model_.tensor(prefix + rest), shape)});
    };
    add("attn_norm.weight", "input_layernorm.weight", {h}, false);
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
      add(std::string(pr.op) + ".weight", std::string(pr.tensor) + ".weight", {pr.out, pr.in}, false);
      add(std::string(pr.op) + ".bias", std::string(pr.tensor) + ".bias", {pr.out}, true);
    }
    add("mlp_norm.weight", "post_attention_layernorm.weight", {h}, false);
    return weights;
  }

  // --- function bodies ---------------------------------------------------------------------

  mlir::Location name_loc(const std::string& name) { return mlir::NameLoc::get(b_.getStringAttr(name)); }

  // The weight `name` of the function being built (in a layer function, its layer weight), named
  // `name`; null where the model has none (an absent bias).
  Value weight(const std::string& name) {
    auto it = weights_.find(symbol_prefix_ + name);
    if (it == weights_.end()) return nullptr;
    return b_.create<WeightRefOp>(name_loc(name), it->second, it->first);
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

  // One decoder layer, its ops named as in every layer (expand_layers puts `layers.i.` before).
  Value layer(Value x, Value pos) {
    const ModelConfig& c = config_;
    const auto cache = mlir::FlatSymbolRefAttr::get(ctx_, kLayerCache);

    Value h = rms_norm("attn_norm", x);
    Value q = linear("attn.q_proj", h, c.num_heads * c.head_dim);
    Value k = linear("attn.k_proj", h, c.num_kv_heads * c.head_dim);
    Value v = linear("attn.v_proj", h, c.num_kv_heads * c.head_dim);
    q = rope("attn.q_rope", q, pos);
    k = rope("attn.k_rope", k, pos);
    b_.create<KvAppendOp>(name_loc("attn.kv_append"), k, v, cache, pos);
    Value a = b_.create<AttentionOp>(name_loc("attn.attention"), q.getType(), q, cache, pos,
                                     b_.getF64FloatAttr(1.0 / std::sqrt(static_cast<double>(c.head_dim))));
    Value o = linear("attn.o_proj", a, c.hidden_size);
    x = b_.create<AddOp>(name_loc("attn_residual"), x, o);

    h = rms_norm("mlp_norm", x);
    Value gate = linear("mlp.gate_proj", h, c.intermediate_size);
    Value up = linear("mlp.up_proj", h, c.intermediate_size);
    Value act = b_.create<SiluOp>(name_loc("mlp.silu"), gate);
    Value prod = b_.create<MulOp>(name_loc("mlp.mul"), act, up);
    Value down = linear("mlp.down_proj", prod, c.hidden_size);
    return b_.create<AddOp>(name_loc("mlp_residual"), x, down);
  }

  // `(tensor<?xHxf32>, index) -> tensor<?xHxf32>`: one layer over the weights `@NAME.*`.
  void build_layer_function(const std::string& name) {
    rows_ = mlir::ShapedType::kDynamic;
    const auto type = rows_of(config_.hidden_size);
    mlir::OpBuilder::InsertionGuard guard(b_);
    const auto fn_type = b_.getFunctionType({type, b_.getIndexType()}, {type});
    auto fn = b_.create<mlir::func::FuncOp>(name_loc(name), name, fn_type);
    fn.setPrivate();
    mlir::Block* body = b_.createBlock(&fn.getBody(), {}, {type, b_.getIndexType()}, {name_loc("x"), name_loc("pos")});
    b_.setInsertionPointToStart(body);
    symbol_prefix_ = name + ".";
    Value y = layer(body->getArgument(0), body->getArgument(1));
    symbol_prefix_.clear();
    b_.create<mlir::func::ReturnOp>(name_loc(name), y);
  }

  void build_function(const std::string& name, Entry entry, const std::vector<std::string>& layer_functions) {
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
    llvm::SmallVector<mlir::Attribute> layers;
    for (const std::string& f : layer_functions) layers.push_back(mlir::FlatSymbolRefAttr::get(ctx_, f));
    x = b_.create<DecoderLayersOp>(name_loc("layers"), x.getType(), x, pos, b_.getArrayAttr(layers));
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
  std::string symbol_prefix_;  // `layer_a.` while a layer function is built
};

}  // namespace

Module build_compact_module(const Model& model) {
  std::unique_ptr<Module::Impl> impl = make_module_impl();
  ModuleBuilder(model, *impl).build();
  return Module(std::move(impl));
}

Module build_module(const Model& model) {
  Module module = build_compact_module(model);
  const mlir::ModuleOp op = mlir_module(module);
  if (mlir::failed(expand_layers(op)) || mlir::failed(mlir::verify(op)))
    throw_internal(model.path + ": the expanded IR of the model does not verify");
  return module;
}

}  // namespace aprc::ir
