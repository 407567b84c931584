// A model file run by the reference interpreter, as a LanguageModel (aprc/runtime.h): the generation
// loop, `aprc run` and `aprc logits` drive it exactly as they drive a plan on an engine. Builds the
// module once; the KV cache holds the tokens fed so far.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/module.h"
#include "aprc/model.h"
#include "aprc/runtime.h"

namespace aprc::reference {

class ReferenceModel : public LanguageModel {
 public:
  // load_model(path), then the IR builder.
  explicit ReferenceModel(const std::string& model_path);
  ReferenceModel(const ReferenceModel&) = delete;
  ReferenceModel& operator=(const ReferenceModel&) = delete;

  const Model& model() const { return model_; }

  int64_t vocab_size() const override { return model_.config.vocab_size; }
  int64_t context() const override { return model_.config.max_position_embeddings; }
  int64_t position() const override { return position_; }
  void reset() override;
  // @prefill_last (or @decode for one token) on the tokens after those so far.
  std::span<const float> prefill(std::span<const int32_t> ids) override;

  // @prefill: the logits of every one of `ids`, [ids.size()][vocab_size].
  std::vector<float> prefill_all(std::span<const int32_t> ids);

 private:
  void check_fits(std::span<const int32_t> ids) const;

  Model model_;
  ir::Module module_;
  ModelWeights weights_;
  Interpreter interpreter_;
  int64_t position_ = 0;
  Activation logits_;
};

}  // namespace aprc::reference
