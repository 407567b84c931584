// The canonical Model -> GGUF v3, as llama.cpp writes it for qwen2: tensors under blk.N.* names in
// the formats a QuantScheme gives them, the {arch}.* hyperparameters, general.alignment 32, and
// the tokenizer under tokenizer.ggml.* with the chat template.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "aprc/model.h"
#include "aprc/quant_scheme.h"

namespace aprc {

struct GgufWriteOptions {
  QuantScheme quant = QuantScheme::Keep;  // formats GGUF cannot hold (AprQ4, AprQ8, FP8) become f16
  QuantOverrides overrides;               // the embedding's / output's format instead of the scheme's
  std::string name;                       // general.name; left out when empty
  // Called once per tensor as it is written (tensor index, count, canonical name, source dtype,
  // stored dtype).
  std::function<void(size_t, size_t, const std::string&, DType, DType)> progress;
};

// Writes `model` to `path` (through PATH.tmp, renamed when complete), streaming the tensors so that
// memory stays at a chunk of rows. A tied model has no output.weight. The vocabulary is padded to
// vocab_size with unused "[PADn]" tokens, as llama.cpp's converter does (llama.cpp wants one token
// per embedding row). Error(BadInput) for a tensor GGUF has no name for, or values that are not
// finite where a tensor must be converted.
void write_gguf(const Model& model, const std::string& path, const GgufWriteOptions& options = {});

}  // namespace aprc
