#include "aprc/interpreter/model_weights.h"

#include "aprc/error.h"

namespace aprc::reference {

TensorView ModelWeights::weight(const WeightDecl& decl) const {
  const TensorRef& tensor = model_.tensor(decl.source);
  TensorView view = tensor.view();
  view.scales = decl.scales;
  if (decl.layout == WeightLayout::RowMajor) return view;
  auto it = repacked_.find(decl.symbol);
  if (it == repacked_.end()) it = repacked_.emplace(decl.symbol, repack(decl.layout, view)).first;
  view.bytes = it->second;
  return view;
}

}  // namespace aprc::reference
