#include "aprc/verify/plan_weights.h"

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"

namespace aprc::verify {

TensorView PlanWeights::weight(const reference::WeightDecl& decl) const {
  const std::vector<PlanWeight>& table = plan_->manifest().weights;
  size_t index = table.size();
  for (size_t i = 0; i < table.size() && index == table.size(); ++i)
    if (table[i].name == decl.symbol) index = i;
  if (index == table.size())
    throw_bad_input(plan_->path() + ": the reference IR declares weight @" + decl.symbol +
                    ", which the plan does not store");
  const PlanWeight& w = table[index];
  const TensorView view{w.dtype, w.shape, plan_->weight(index), w.scales};
  const bool same_encoding = w.dtype == decl.dtype && (w.dtype != DType::FP8_E4M3 || w.scales == decl.scales);
  if (same_encoding && w.layout == decl.layout) return view;
  if (!same_encoding)
    throw_bad_input(plan_->path() + ": weight @" + decl.symbol + " is stored as " + dtype_name(w.dtype) +
                    " but the reference IR declares " + dtype_name(decl.dtype) +
                    " (the compiler changed its encoding, so the plan no longer holds the original values): "
                    "give the model file with --model for the reference");
  auto it = converted_.find(decl.symbol);
  if (it == converted_.end()) {
    try {
      it = converted_.emplace(decl.symbol, convert_weight(view, decl.dtype, decl.scales, decl.layout, w.layout)).first;
    } catch (const Error& e) {
      throw Error(e.kind(), plan_->path() + ": weight @" + decl.symbol + ": " + e.what());
    }
  }
  return TensorView{decl.dtype, w.shape, it->second, decl.scales};
}

}  // namespace aprc::verify
