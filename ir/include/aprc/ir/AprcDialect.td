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
