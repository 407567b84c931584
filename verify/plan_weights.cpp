#include "aprc/verify/plan_weights.h"

#include <algorithm>

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"

namespace aprc::verify {

TensorView PlanWeights::weight(const reference::WeightDecl& decl) const {
  const std::vector<PlanWeight>& table = plan_->manifest().weights;
  // Every entry of the symbol (a plan for several targets stores it once per layout), the one in the
  // declared layout first. A weight stored once for several symbols (a tied model's table and logits
  // matrix) is named after the first: the others find it by the tensor it was made from.
  std::vector<size_t> entries;
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i].name == decl.symbol) entries.push_back(i);
  if (entries.empty())
    for (size_t i = 0; i < table.size(); ++i)
      if (table[i].source == decl.source && table[i].shape == decl.shape) entries.push_back(i);
  if (entries.empty())
    throw_bad_input(plan_->path() + ": the reference IR declares weight @" + decl.symbol +
                    ", which the plan does not store");
  std::stable_partition(entries.begin(), entries.end(), [&](size_t i) { return table[i].layout == decl.layout; });
  std::string why;
  for (size_t index : entries) {
    const PlanWeight& w = table[index];
    const TensorView view{w.dtype, w.shape, plan_->weight(index), w.scales};
    const bool same_encoding = w.dtype == decl.dtype && (w.dtype != DType::FP8_E4M3 || w.scales == decl.scales);
    if (same_encoding && w.layout == decl.layout) return view;
    if (!same_encoding) {
      why = std::string("it is stored as ") + dtype_name(w.dtype) + " but the reference IR declares " +
            dtype_name(decl.dtype) + " (the compiler changed its encoding, so the plan no longer holds the original values)";
      continue;
    }
    auto it = converted_.find(decl.symbol);
    if (it == converted_.end()) {
      try {
        it = converted_.emplace(decl.symbol, convert_weight(view, decl.dtype, decl.scales, decl.layout, w.layout)).first;
      } catch (const Error& e) {
        why = std::string("its ") + layout_name(w.layout) + " layout cannot be rearranged back (" + e.what() + ")";
        continue;
      }
    }
    return TensorView{decl.dtype, w.shape, it->second, decl.scales};
  }
  throw_bad_input(plan_->path() + ": weight @" + decl.symbol + ": " + why + ": give the model file with --model for the reference");
}

}  // namespace aprc::verify
