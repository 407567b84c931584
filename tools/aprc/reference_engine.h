// A model file run by the reference interpreter: the engine behind `aprc logits` and `aprc run`
// with `--engine reference`. Builds the module once; keeps the KV cache between calls.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/module.h"
#include "aprc/model.h"

namespace aprc {

class ReferenceEngine {
 public:
  explicit ReferenceEngine(const std::string& model_path);
  ReferenceEngine(const ReferenceEngine&) = delete;
  ReferenceEngine& operator=(const ReferenceEngine&) = delete;

  const Model& model() const { return model_; }
  int64_t vocab() const { return model_.config.vocab_size; }

  // Logits of every token of `ids` at positions pos, pos+1, ... ([ids.size(), vocab]).
  reference::Activation prefill(std::span<const int32_t> ids, int64_t pos);
  // Logits of the last token only ([1, vocab]).
  reference::Activation prefill_last(std::span<const int32_t> ids, int64_t pos);
  // Logits of one token at `pos` ([1, vocab]).
  reference::Activation decode(int32_t id, int64_t pos);

 private:
  Model model_;
  ir::Module module_;
  reference::ModelWeights weights_;
  reference::Interpreter interpreter_;
};

// Token ids from `--ids 1,2,3`, checked against the vocabulary; `what` names the flag in errors.
std::vector<int32_t> checked_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& what);

}  // namespace aprc
