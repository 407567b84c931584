// The interpreter's weights from a model file: each symbol's `source` tensor of the Model, repacked
// into the declared layout when that is not row_major (kept for the source's lifetime).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "aprc/interpreter/interpreter.h"
#include "aprc/model.h"

namespace aprc::reference {

class ModelWeights : public WeightSource {
 public:
  explicit ModelWeights(const Model& model) : model_(model) {}
  TensorView weight(const WeightDecl& decl) const override;

 private:
  const Model& model_;
  mutable std::map<std::string, std::vector<uint8_t>> repacked_;  // by symbol
};

}  // namespace aprc::reference
