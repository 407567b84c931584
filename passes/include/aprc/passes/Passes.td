// aprc's passes: the fusions that turn the frontend's ops into the fused ops the kernels implement,
// the weight layout pass, and memory planning. aprc-opt lists each with its summary; the pipelines
// that chain them (aprc-optimize, aprc-lower-cpu, aprc-lower-cuda) are in pipelines.cpp.
#ifndef APRC_PASSES_TD
#define APRC_PASSES_TD

include "mlir/Pass/PassBase.td"

//===-------------------------------------------------------------------------------------------===//
// The compact form
//===-------------------------------------------------------------------------------------------===//

def ExpandLayers : Pass<"aprc-expand-layers", "::mlir::ModuleOp"> {
  let summary = "Unroll aprc.decoder_layers into every op of every layer, on per-layer weights and caches";
  let description = [{
    The IR builder's compact form runs the decoder layers with one `aprc.decoder_layers` per
    function, a list of private layer functions over `aprc.layer_weight` and `aprc.layer_kv_cache`
    symbols. This pass inlines layer i's function for every layer, in order, its ops named
    `layers.i.<op>` (e.g. `layers.2.mlp.down_proj`), its weights `aprc.weight @layers.i.NAME` (the
    source with `{}` replaced by i) and its cache `aprc.kv_cache @layers.i.kv`, and removes the
    layer functions and declarations: the module every other pass, the interpreter and the
    schedule builder read. A module without them is left as it is. Every aprc pipeline runs it first.
  }];
}

//===-------------------------------------------------------------------------------------------===//
// Fusions (each keeps the values of the ops it replaces, named in result_names)
//===-------------------------------------------------------------------------------------------===//

def FuseGateUpSwiGLU : Pass<"aprc-fuse-gate-up-swiglu", "::mlir::func::FuncOp"> {
  let summary = "Fuse mul(silu(linear(x, Wg)), linear(x, Wu)) into one fused_linear with a swiglu epilogue";
  let description = [{
    The gate and up projections of one input, the SiLU of the gate and the product become
    `aprc.fused_linear %x weights(%Wg, %Wu) epilogue swiglu`, whose result carries the mul's name.
    Matches either operand order of the mul, and a `fused_linear` of exactly those two projections
    (epilogue none, as aprc-fuse-shared-input-linears leaves them). The projections must have no
    other users, and biases on both or neither.
  }];
}

def FuseSharedInputLinears : Pass<"aprc-fuse-shared-input-linears", "::mlir::func::FuncOp"> {
  let summary = "Fuse the linears that read one input (q/k/v) into one fused_linear with a result per weight";
  let description = [{
    All `aprc.linear` ops of a block that read the same value, with biases on all or none of them,
    become one `aprc.fused_linear ... epilogue none` placed at the first of them; each result
    carries the name of the linear it replaces. Linears with and without biases form separate
    groups.
  }];
}

def FoldNormIntoLinear : Pass<"aprc-fold-norm-into-linear", "::mlir::func::FuncOp"> {
  let summary = "Fold an rms_norm into the RMSNorm prologue of the linears and fused_linears it feeds";
  let description = [{
    An `aprc.rms_norm` whose every user is an `aprc.linear` or a `fused_linear` without a norm
    (reading it as the input) disappears: each user normalizes its own input instead
    (`fused_linear %x norm(%gamma) ... {eps}`). A norm with any other user stays as it is.
  }];
}

def FoldResidualIntoLinear : Pass<"aprc-fold-residual-into-linear", "::mlir::func::FuncOp"> {
  let summary = "Fold add(r, linear(x)) into a fused_linear with a residual epilogue";
  let description = [{
    An `aprc.add` of a residual and the only use of a single-weight projection (`aprc.linear`, or a
    `fused_linear` of one weight and epilogue none, norm prologue allowed) becomes
    `fused_linear ... residual(%r) epilogue residual`, named after the add.
  }];
}

def FuseRopeKvAppend : Pass<"aprc-fuse-rope-kv-append", "::mlir::func::FuncOp"> {
  let summary = "Fuse rope(k) feeding kv_append into rope_kv_append";
  let description = [{
    `aprc.kv_append (rope %k), %v, @cache[%pos]` becomes `aprc.rope_kv_append %k, %v, @cache[%pos]`
    when the rope rotates at the same position with the cache's head_dim; its result is the rotated
    k (named after the rope) and replaces the rope's uses after the append.
  }];
}

def FuseQRopeIntoKvAppend : Pass<"aprc-fuse-q-rope-into-kv-append", "::mlir::func::FuncOp"> {
  let summary = "Fuse the rope of q into the rope_kv_append of its attention's cache";
  let description = [{
    `aprc.attention (rope %q), @cache[%pos]` and the `aprc.rope_kv_append %k, %v, @cache[%pos]` of
    the same cache, position and theta (the rope with the cache's head_dim) become one
    `aprc.rope_qk_kv_append %q, %k, %v, @cache[%pos]` at the earlier of the two, when the later one's
    operands are defined before it and no op between them reads or writes the cache. Its results are
    the rotated q and k, under the names of the rope and of the rope_kv_append. The CUDA lowering
    runs it (one kernel a layer less); the CPU keeps its own kernels.
  }];
}

//===-------------------------------------------------------------------------------------------===//
// Encodings
//===-------------------------------------------------------------------------------------------===//

def CastFp8 : Pass<"aprc-cast-fp8", "::mlir::ModuleOp"> {
  let summary = "Cast the selected linear weights to fp8 e4m3 with per-channel (or per-tensor) f32 scales";
  let description = [{
    Each `aprc.weight` read only as the matrix of a product (`linear`, `fused_linear` weights,
    `logits`) whose group is selected by `ops` becomes `!aprc.weight<fp8e4m3, SHAPE, SCALES>`
    (row_major): its bytes are the stored tensor dequantized and cast by convert_weight
    (formats/weight_convert.h; the plan writer and the interpreter both call it), with one scale
    max|row| / 448 per output channel, or one max|tensor| / 448. Its `aprc.weight_ref`s and their
    users follow. Embedding tables, norms and biases keep their encodings. Groups, by the weight's
    symbol (docs/design.md): `attn_qkv` (q/k/v projections), `attn_proj` (o projection), `mlp`
    (gate, up, down), `logits` (the output projection); `layers` (the default) is the first three,
    `all` every such matrix. The output projection is left out by default: e4m3's rounding of it
    costs more logit accuracy than every layer's product together (docs/design.md, measured).
    Run it before aprc-repack-weights, which gives fp8 weights their target layout.
    With `per-token-activations`, every product of an fp8 weight in a prefill function (one whose
    activations have a dynamic row count) gets `aprc.fp8_per_token_activations` (AprcDialect.td):
    its input rows are quantized per token to two e4m3 terms (hi and the rounded remainder lo; why:
    docs/design.md) before the product.
  }];
  let options = [
    Option<"granularity", "granularity", "::aprc::ScaleGranularity", "::aprc::ScaleGranularity::PerChannel",
           "one scale per output channel, or one for the whole weight",
           [{::llvm::cl::values(
               clEnumValN(::aprc::ScaleGranularity::PerChannel, "per_channel", "max|row| / 448 for each row"),
               clEnumValN(::aprc::ScaleGranularity::PerTensor, "per_tensor", "max|tensor| / 448"))}]>,
    ListOption<"ops", "ops", "std::string",
               "the groups of weights to cast: attn_qkv, attn_proj, mlp, logits, layers (the default), all">,
    Option<"perTokenActivations", "per-token-activations", "bool", "false",
           "quantize prefill activations per token to two e4m3 terms before the fp8 products">
  ];
}

def DequantizeWeights : Pass<"aprc-dequantize-weights", "::mlir::ModuleOp"> {
  let summary = "Declare every weight f32 (row_major): the module of the f32-dequantized reference";
  let description = [{
    Every `aprc.weight` and its `aprc.weight_ref`s become `!aprc.weight<f32, SHAPE>`; the values
    are the stored weights dequantized (convert_weight), so the module computes in f32 what the
    model means (fp8 activation attributes are dropped with the fp8 weights). `aprc verify
    --report` compares the stored and the fp8 encodings against it.
  }];
}

//===-------------------------------------------------------------------------------------------===//
// Layouts and memory
//===-------------------------------------------------------------------------------------------===//

def RepackWeights : Pass<"aprc-repack-weights", "::mlir::ModuleOp"> {
  let summary = "Give every weight that the matrix kernels read the layout its target's kernels read";
  let description = [{
    Each `aprc.weight` read only by `linear`, `fused_linear` (as a weight) and `logits` gets the
    layout `preferred_layout(target, encoding)` (runtime/core/target_layouts.cpp) when that layout
    can hold its shape; its `aprc.weight_ref`s follow. Norms and biases stay row_major. Embedding
    tables (and weights read both as a table and as a matrix) take the matrix layout too: the CPU
    and CUDA embedding kernels read it, so a tied model's table and logits matrix are stored once,
    in the layout the logits kernel streams.
  }];
  let options = [
    Option<"target", "target", "::aprc::Backend", "::aprc::Backend::Cpu",
           "the backend whose kernels read the weights",
           [{::llvm::cl::values(clEnumValN(::aprc::Backend::Cpu, "cpu", "the CPU kernels"),
                                clEnumValN(::aprc::Backend::Cuda, "cuda", "the CUDA kernels"))}]>
  ];
}

def PlanMemory : Pass<"aprc-plan-memory", "::mlir::func::FuncOp"> {
  let summary = "Place every activation of a function in one arena, reusing bytes of dead buffers";
  let description = [{
    Computes each activation's live range in the function's block and packs the buffers (sized for
    `aprc.max_tokens` rows where the row count is dynamic) into one arena, larger buffers first,
    each into the lowest 64-byte-aligned gap free over its whole range. Results that kernels
    write in place share their operand's buffer: rope and rope_kv_append always (their operand
    must die there), a residual epilogue when the residual dies there. The value the function
    returns lives in the caller's output buffer. Writes `aprc.offsets` on every op with results and
    `aprc.max_tokens` and `aprc.arena_bytes` on the function (dialect AprcDialect.td).
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", "512",
           "rows of a call with a dynamic row count, unless the function has aprc.max_tokens">
  ];
}

//===-------------------------------------------------------------------------------------------===//
// Testing aids
//===-------------------------------------------------------------------------------------------===//

def InjectFault : Pass<"aprc-inject-fault", "::mlir::ModuleOp"> {
  let summary = "Perturb the value of the ops a pattern names (y = x + silu(x)), for testing aprc verify";
  let description = [{
    After each op with results whose name matches `op` (a pattern where `*` matches any run of
    characters: `layers.2.mlp.down_proj`, `layers.*.mlp_residual`), the pass adds `aprc.silu` and
    `aprc.add` computing `x + silu(x)`, gives that value the op's name and renames the op's own
    result to `NAME.unperturbed`. A result matches by the name it carries (its `result_names`
    entry, or the op's NameLoc); where none does, every result of an op whose location names a
    match (a fused op that absorbed the named op). A pattern that names no op is an error.
    `aprc compile --inject-fault PATTERN` runs it
    after the fusions; plans never carry it otherwise.
  }];
  let options = [
    Option<"op", "op", "std::string", "\"\"", "the op names to perturb (a pattern, `*` for any run of characters)">
  ];
}

#endif  // APRC_PASSES_TD
