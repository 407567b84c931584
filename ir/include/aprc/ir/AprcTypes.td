// The aprc weight type.
#ifndef APRC_TYPES_TD
#define APRC_TYPES_TD

include "aprc/ir/AprcDialect.td"

def Aprc_WeightType : TypeDef<Aprc_Dialect, "Weight"> {
  let mnemonic = "weight";
  let summary = "a weight tensor as stored: encoding, logical shape, layout, fp8 scale granularity";
  let description = [{
    `!aprc.weight<ENCODING, [DIMS][, LAYOUT][, SCALES]>`. ENCODING is one of f32 f16 bf16 q8_0
    q5_0 q4_k q5_k q6_k fp8e4m3 aprq4 aprq8; DIMS is the logical shape, `[out, in]` for a matrix
    or `[n]` for a vector; LAYOUT is a name from `aprc::WeightLayout` (formats/layouts.h),
    `row_major` (as model files store weights) when omitted; SCALES (`per_channel` or
    `per_tensor`) is the fp8 scale granularity, printed for fp8e4m3 only. Rows must be whole
    blocks of the encoding, and the layout must be defined for the encoding.
  }];
  let parameters = (ins
    "::aprc::DType":$encoding,
    ArrayRefParameter<"int64_t", "logical shape, outermost first">:$shape,
    "::aprc::WeightLayout":$layout,
    "::aprc::ScaleGranularity":$scales
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    TypeBuilder<(ins "::aprc::DType":$encoding, "::llvm::ArrayRef<int64_t>":$shape,
                     CArg<"::aprc::WeightLayout", "::aprc::WeightLayout::RowMajor">:$layout,
                     CArg<"::aprc::ScaleGranularity", "::aprc::ScaleGranularity::PerChannel">:$scales), [{
      return $_get($_ctxt, encoding, shape, layout, scales);
    }]>
  ];
  let extraClassDeclaration = [{
    bool isMatrix() const { return getShape().size() == 2; }
    // A vector [n] is one row of n.
    int64_t rows() const { return isMatrix() ? getShape()[0] : 1; }
    int64_t cols() const { return getShape().back(); }
  }];
}

#endif  // APRC_TYPES_TD
