// The aprc dialect: a Qwen2.5-family transformer at the level of its operations (docs/design.md).
#ifndef APRC_DIALECT_TD
#define APRC_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Aprc_Dialect : Dialect {
  let name = "aprc";
  let cppNamespace = "::aprc::ir";
  let summary = "Qwen2.5-family transformer operations over module-level weight symbols";
  let description = [{
    Activations are ordinary `tensor<?xNxf32>` values, one row per token. Weights are not values
    the program computes: they are module-level `aprc.weight` symbols whose `!aprc.weight` type
    carries the encoding, logical shape, layout and fp8 scale granularity; `aprc.weight_ref` turns
    a symbol into a typed SSA value. The KV caches are `aprc.kv_cache` symbols written by
    `aprc.kv_append` and read by `aprc.attention`.
  }];
  let useDefaultTypePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    // The module attribute that holds the model configuration (a dictionary).
    static constexpr ::llvm::StringLiteral kConfigAttrName = "aprc.config";
    // The memory plan (aprc-plan-memory, read by the schedule builder). On a function: the row
    // count T its buffers are sized for, and the bytes of its one activation arena. On an op: per
    // result, the byte offset of its buffer in the arena, or kFunctionOutput for the value the
    // function returns (it lives in the caller's output buffer). A result whose offset equals an
    // operand's reuses that operand's buffer (in place).
    static constexpr ::llvm::StringLiteral kMaxTokensAttrName = "aprc.max_tokens";
    static constexpr ::llvm::StringLiteral kArenaBytesAttrName = "aprc.arena_bytes";
    static constexpr ::llvm::StringLiteral kOffsetsAttrName = "aprc.offsets";
    static constexpr int64_t kFunctionOutput = -1;
    // Dynamic per-token fp8 activations (aprc-cast-fp8, prefill functions): a unit attribute on an
    // aprc.linear, aprc.fused_linear or aprc.logits with fp8e4m3 weights. Each row of the input that
    // the products read (after the norm prologue), times 1/scale with the scale max|row| / 448, is
    // quantized to two e4m3 terms (hi = e4m3(v), lo = e4m3(v - hi): aprc_fp8e4m3_hi_lo in
    // formats/blocks.h; nearest even, saturating) before it meets the fp8 weights.
    static constexpr ::llvm::StringLiteral kFp8PerTokenAttrName = "aprc.fp8_per_token_activations";
  }];
}

class Aprc_Op<string mnemonic, list<Trait> traits = []> : Op<Aprc_Dialect, mnemonic, traits>;

def Aprc_EpilogueNone : I32EnumAttrCase<"none", 0>;
def Aprc_EpilogueSwiGLU : I32EnumAttrCase<"swiglu", 1>;
def Aprc_EpilogueResidual : I32EnumAttrCase<"residual", 2>;
def Aprc_EpilogueAttr : I32EnumAttr<"FusedEpilogue", "what aprc.fused_linear does after its products",
    [Aprc_EpilogueNone, Aprc_EpilogueSwiGLU, Aprc_EpilogueResidual]> {
  let cppNamespace = "::aprc::ir";
}

#endif  // APRC_DIALECT_TD
