// The reference interpreter's weights from a plan: each symbol of the plan's reference IR is the
// plan weight of that name, rearranged back into the declared layout when the compiler repacked it
// (a lossless reordering). A weight the compiler cast to another encoding (fp8) cannot give the
// reference its original values: that is a clear error asking for the model file instead.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aprc/interpreter/interpreter.h"
#include "aprc/plan.h"

namespace aprc::verify {

class PlanWeights final : public reference::WeightSource {
 public:
  explicit PlanWeights(std::shared_ptr<const Plan> plan) : plan_(std::move(plan)) {}
  TensorView weight(const reference::WeightDecl& decl) const override;

 private:
  std::shared_ptr<const Plan> plan_;
  mutable std::map<std::string, std::vector<uint8_t>> converted_;  // by symbol
};

}  // namespace aprc::verify
