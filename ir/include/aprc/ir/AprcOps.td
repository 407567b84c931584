// The aprc operations. Every op the frontend emits carries a NameLoc naming it
// (`layers.2.mlp.down_proj`, docs/design.md); the fused ops name the original ops whose values
// their results equal in `result_names`.
#ifndef APRC_OPS_TD
#define APRC_OPS_TD

include "aprc/ir/AprcDialect.td"
include "aprc/ir/AprcTypes.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

// Activations: f32 rows, one per token (the row count may be dynamic); the column count is static.
def Aprc_Activation : Type<And<[TensorOf<[F32]>.predicate, HasAnyRankOfPred<[2]>,
                                CPred<"!::llvm::cast<::mlir::ShapedType>($_self).isDynamicDim(1)">]>,
    "2-D f32 tensor with static columns", "::mlir::RankedTensorType">;
def Aprc_TokenIds : 1DTensorOf<[I32]>;

//===-------------------------------------------------------------------------------------------===//
// Module-level declarations
//===-------------------------------------------------------------------------------------------===//

def Aprc_WeightOp : Aprc_Op<"weight", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "declares a weight tensor of the model file by symbol";
  let description = [{
    `aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]> {source = "model.layers.0.self_attn.q_proj.weight"}`.
    `source` is the canonical tensor name the bytes come from; the data is never inlined, so a
    module prints in kilobytes whatever the model's size. Several symbols may share a source (a
    tied output projection): a plan writer stores bytes of equal source and type once.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<Aprc_WeightType>:$type, StrAttr:$source);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let extraClassDeclaration = [{
    ::aprc::ir::WeightType getWeightType() { return ::llvm::cast<::aprc::ir::WeightType>(getType()); }
  }];
}

def Aprc_KvCacheOp : Aprc_Op<"kv_cache", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "declares one layer's key/value cache";
  let description = [{
    `aprc.kv_cache @layers.0.kv {num_kv_heads = 2, head_dim = 64, max_seq = 32768}`: f32 keys and
    values of `num_kv_heads * head_dim` columns for positions [0, max_seq). Written by
    `aprc.kv_append` / `aprc.rope_kv_append`, read by `aprc.attention`; it persists across calls.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, I64Attr:$num_kv_heads, I64Attr:$head_dim, I64Attr:$max_seq);
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t rowWidth() { return getNumKvHeads() * getHeadDim(); }
  }];
}

def Aprc_WeightRefOp : Aprc_Op<"weight_ref", [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the typed value of a weight symbol";
  let arguments = (ins FlatSymbolRefAttr:$weight);
  let results = (outs Aprc_WeightType:$result);
  let assemblyFormat = "$weight attr-dict `:` qualified(type($result))";
}

//===-------------------------------------------------------------------------------------------===//
// The compact form: one function per distinct decoder layer (aprc-expand-layers unrolls it)
//===-------------------------------------------------------------------------------------------===//

def Aprc_LayerWeightOp : Aprc_Op<"layer_weight", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "declares one weight of a layer function, a tensor per decoder layer that calls it";
  let description = [{
    `aprc.layer_weight @layer_a.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]> {source = "model.layers.{}.self_attn.q_proj.weight"}`.
    The symbol is `FUNCTION.NAME`: only the layer function `@FUNCTION` reads it (`aprc.weight_ref`),
    and for decoder layer i that calls it, aprc-expand-layers declares `aprc.weight @layers.i.NAME`
    of the same type, its `source` with every `{}` replaced by i.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<Aprc_WeightType>:$type, StrAttr:$source);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // FUNCTION and NAME of `FUNCTION.NAME`.
    ::llvm::StringRef getFunctionName() { return getSymName().split('.').first; }
    ::llvm::StringRef getLayerName() { return getSymName().split('.').second; }
  }];
}

def Aprc_LayerKvCacheOp : Aprc_Op<"layer_kv_cache", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "declares a key/value cache per decoder layer, for the layer functions";
  let description = [{
    `aprc.layer_kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 32768}`: in a layer
    function, the cache of the decoder layer it runs as. aprc-expand-layers declares
    `aprc.kv_cache @layers.i.kv` (same geometry) for each decoder layer i.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, I64Attr:$num_kv_heads, I64Attr:$head_dim, I64Attr:$max_seq);
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
}

def Aprc_DecoderLayersOp : Aprc_Op<"decoder_layers", [MemoryEffects<[MemRead, MemWrite]>,
    AllTypesMatch<["input", "result"]>, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "runs the decoder layers in order, layer i as the i-th function of the list";
  let description = [{
    `%h = aprc.decoder_layers %x, %pos [@layer_a, @layer_a, @layer_b] : tensor<?x256xf32>`: each
    function is a private `(tensor<?xNxf32>, index) -> tensor<?xNxf32>` of aprc ops over layer
    weights and layer KV caches; layer i runs at positions `pos + t` on layer i's weights and
    cache. Every aprc.decoder_layers of a module lists the same functions, one per layer of the
    model (`aprc.config`'s num_layers).
  }];
  let arguments = (ins Aprc_Activation:$input, Index:$pos, FlatSymbolRefArrayAttr:$layers);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input `,` $pos $layers attr-dict `:` type($input)";
}

//===-------------------------------------------------------------------------------------------===//
// Original ops (what the frontend emits)
//===-------------------------------------------------------------------------------------------===//

def Aprc_EmbeddingOp : Aprc_Op<"embedding", [Pure]> {
  let summary = "rows of the embedding table for each token id";
  let description = [{ `result[t] = table[ids[t]]`, dequantized; `table` is `[vocab, hidden]`. }];
  let arguments = (ins Aprc_TokenIds:$ids, Aprc_WeightType:$table);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Aprc_RmsNormOp : Aprc_Op<"rms_norm", [Pure]> {
  let summary = "RMS normalization of each row, times gamma";
  let description = [{ `result[t] = x[t] / sqrt(mean(x[t]^2) + eps) * gamma`; `gamma` is `[cols]`. }];
  let arguments = (ins Aprc_Activation:$input, Aprc_WeightType:$gamma, F64Attr:$eps);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input `,` $gamma attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Aprc_LinearOp : Aprc_Op<"linear", [Pure]> {
  let summary = "x @ W^T (+ b)";
  let description = [{ `W` is `[out, in]`, `x` is `[T, in]`, the optional `b` is `[out]`; the result is `[T, out]`. }];
  let arguments = (ins Aprc_Activation:$input, Aprc_WeightType:$weight, Optional<Aprc_WeightType>:$bias);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Aprc_RopeOp : Aprc_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding (NeoX rotate-half) of every head";
  let description = [{
    Row t is at position `pos + t`. In each head of `head_dim` columns, element i < head_dim/2
    pairs with element i + head_dim/2 and both rotate by the angle
    `(pos + t) * theta^(-2i / head_dim)`.
  }];
  let arguments = (ins Aprc_Activation:$input, Index:$pos, F64Attr:$theta, I64Attr:$head_dim);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input `,` $pos attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Aprc_KvAppendOp : Aprc_Op<"kv_append", [MemoryEffects<[MemWrite]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "writes the rows of k and v into a KV cache at positions pos, pos+1, ...";
  let arguments = (ins Aprc_Activation:$k, Aprc_Activation:$v, FlatSymbolRefAttr:$cache, Index:$pos);
  let assemblyFormat = "$k `,` $v `,` $cache `[` $pos `]` attr-dict `:` type($k) `,` type($v)";
  let hasVerifier = 1;
}

def Aprc_AttentionOp : Aprc_Op<"attention", [MemoryEffects<[MemRead]>, AllTypesMatch<["q", "result"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "causal grouped-query attention over a KV cache";
  let description = [{
    Row t of `q` (position `pos + t`) attends to cache positions [0, pos + t]:
    `softmax(q_h . k_g * scale) v_g` per query head h, with g = h / (heads / kv_heads) and
    heads = q's columns / the cache's head_dim. The cache must already hold those positions.
  }];
  let arguments = (ins Aprc_Activation:$q, FlatSymbolRefAttr:$cache, Index:$pos, F64Attr:$scale);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$q `,` $cache `[` $pos `]` attr-dict `:` type($q)";
}

def Aprc_SiluOp : Aprc_Op<"silu", [Pure, SameOperandsAndResultType]> {
  let summary = "x * sigmoid(x), elementwise";
  let arguments = (ins Aprc_Activation:$input);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Aprc_MulOp : Aprc_Op<"mul", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise product";
  let arguments = (ins Aprc_Activation:$lhs, Aprc_Activation:$rhs);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Aprc_AddOp : Aprc_Op<"add", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise sum";
  let arguments = (ins Aprc_Activation:$lhs, Aprc_Activation:$rhs);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Aprc_LogitsOp : Aprc_Op<"logits", [Pure]> {
  let summary = "the output projection: x @ W^T over the vocabulary";
  let description = [{
    `W` is `[vocab, hidden]`. With `last_only`, only the last row of `x` is projected and the
    result has one row.
  }];
  let arguments = (ins Aprc_Activation:$input, Aprc_WeightType:$weight, UnitAttr:$last_only);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$input `,` $weight (`last_only` $last_only^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===-------------------------------------------------------------------------------------------===//
// Fused ops (what the passes emit)
//===-------------------------------------------------------------------------------------------===//

def Aprc_FusedLinearOp : Aprc_Op<"fused_linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "optional RMSNorm prologue, linears sharing one input, an epilogue";
  let description = [{
    `h = norm ? rms_norm(input, norm, eps) : input`; `y_i = h @ W_i^T (+ b_i)` for each weight
    (all of the same input width); then by `epilogue`:
    - `none`: one result per weight, `y_i`;
    - `swiglu`: two weights (gate, up) of equal rows, one result `silu(y_0) * y_1`;
    - `residual`: one weight and a `residual` operand, one result `residual + y_0`.
    `result_names` holds, per result, the name of the original op whose value it equals.
  }];
  let arguments = (ins Aprc_Activation:$input,
                       Optional<Aprc_WeightType>:$norm,
                       Variadic<Aprc_WeightType>:$weights,
                       Variadic<Aprc_WeightType>:$biases,
                       Optional<Aprc_Activation>:$residual,
                       Aprc_EpilogueAttr:$epilogue,
                       OptionalAttr<F64Attr>:$eps,
                       StrArrayAttr:$result_names);
  let results = (outs Variadic<Aprc_Activation>:$results);
  let assemblyFormat = [{
    $input (`norm` `(` $norm^ `)`)? `weights` `(` $weights `)` (`biases` `(` $biases^ `)`)?
    (`residual` `(` $residual^ `)`)? `epilogue` $epilogue attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Aprc_RopeKvAppendOp : Aprc_Op<"rope_kv_append", [MemoryEffects<[MemWrite]>,
    AllTypesMatch<["k", "result"]>, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "rope(k) (head_dim of the cache), then kv_append of the rotated k and v";
  let description = [{
    The result is the rotated k (the value of the original `aprc.rope` on k, named in
    `result_names`).
  }];
  let arguments = (ins Aprc_Activation:$k, Aprc_Activation:$v, FlatSymbolRefAttr:$cache, Index:$pos,
                       F64Attr:$theta, StrArrayAttr:$result_names);
  let results = (outs Aprc_Activation:$result);
  let assemblyFormat = "$k `,` $v `,` $cache `[` $pos `]` attr-dict `:` type($k) `,` type($v)";
  let hasVerifier = 1;
}

def Aprc_RopeQkKvAppendOp : Aprc_Op<"rope_qk_kv_append", [MemoryEffects<[MemWrite]>,
    AllTypesMatch<["q", "q_result"]>, AllTypesMatch<["k", "k_result"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "rope of q and of k (head_dim of the cache), then kv_append of the rotated k and v";
  let description = [{
    `rope_kv_append` that also rotates the queries of the same tokens at the same positions, so that
    one kernel does both rotations and the append. The results are the rotated q and the rotated k
    (the values of the original `aprc.rope` ops on q and on k, named in `result_names`).
  }];
  let arguments = (ins Aprc_Activation:$q, Aprc_Activation:$k, Aprc_Activation:$v, FlatSymbolRefAttr:$cache,
                       Index:$pos, F64Attr:$theta, StrArrayAttr:$result_names);
  let results = (outs Aprc_Activation:$q_result, Aprc_Activation:$k_result);
  let assemblyFormat = "$q `,` $k `,` $v `,` $cache `[` $pos `]` attr-dict `:` type($q) `,` type($k) `,` type($v)";
  let hasVerifier = 1;
}

#endif  // APRC_OPS_TD
