// APR v2 (the aprender / `apr` CLI model format, shared/docs/formats.md): the dtype codes and the
// writer. The reader is behind load_model.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "aprc/formats/formats.h"
#include "aprc/model.h"
#include "aprc/quant_scheme.h"

namespace aprc {

// APR dtype codes: 0 F32, 1 F16, 3 F64, 4 I32, 5 I64, 6 I8, 7 U8, 12 Q4_K, 14 Q6_K, 30 BF16,
// 128 AprQ4, 129 AprQ8 (8 and 9 are old aliases of 128 and 129).
std::optional<DType> dtype_from_apr(uint8_t code);
std::optional<uint8_t> apr_code(DType dtype);  // nullopt: APR cannot hold it

struct AprWriteOptions {
  // The format of each tensor (quant_scheme.h); Keep stores every tensor APR can hold as it is.
  QuantScheme quant = QuantScheme::Keep;
  QuantOverrides overrides;  // the embedding's / output's format instead of the scheme's
  // What a tensor becomes when APR cannot hold its dtype (Q8_0, Q5_0, Q5_K, FP8): F16, or F32 for a
  // tensor with values beyond the f16 range; F32 always when this is F32.
  DType convert_to = DType::F16;
  // Called once per tensor as it is written (tensor index, count, name, source dtype, stored dtype).
  std::function<void(size_t, size_t, const std::string&, DType, DType)> progress;
  // A tied model gets lm_head.weight as a copy of the embedding (what other APR readers expect);
  // false leaves it out (aprc reads the file as tied either way) and halves a small model's file.
  bool tied_copy = true;
};

// Writes `model` as APR v2: metadata JSON (config, chat template, the tokenizer under tokenizer.*),
// the sorted index, 64-aligned data, CRCs. Tensors whose format the scheme keeps are copied
// unchanged (Q4_K and Q6_K blocks included), others quantized (Q4_K, Q6_K, F16, F32; a format APR
// cannot hold, such as Q8_0 or Q5_0, becomes convert_to); a tied model also gets lm_head.weight as
// a copy of the embedding (unless !tied_copy), with tie_word_embeddings = true so that aprc reads
// it back tied. Writes to
// PATH.tmp and renames, so a failed write leaves no half file.
void write_apr(const Model& model, const std::string& path, const AprWriteOptions& options = {});

}  // namespace aprc
