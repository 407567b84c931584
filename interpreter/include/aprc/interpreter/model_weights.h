// The interpreter's weights from a model file: each symbol's `source` tensor of the Model, as is when
// its declared type is the stored one, else converted to the declared encoding and layout by
// convert_weight (formats/weight_convert.h: a repack, an fp8 cast, an f32 reference, ...), kept for
// the source's lifetime.
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
  mutable std::map<std::string, std::vector<uint8_t>> converted_;  // by symbol and declared type
};

}  // namespace aprc::reference
