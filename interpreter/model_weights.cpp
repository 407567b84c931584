#include "aprc/interpreter/model_weights.h"

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"

namespace aprc::reference {

TensorView ModelWeights::weight(const WeightDecl& decl) const {
  const TensorRef& tensor = model_.tensor(decl.source);
  TensorView view = tensor.view();
  // A model's fp8 tensor says its scale granularity only by its size (a Model records none).
  if (view.dtype == DType::FP8_E4M3 && view.bytes.size() == tensor_bytes(view.dtype, view.shape, decl.scales))
    view.scales = decl.scales;
  // The shape is the stored one either way: the interpreter checks it against the declaration.
  if (view.shape != decl.shape || same_encoding(view, WeightLayout::RowMajor, decl.dtype, decl.scales, decl.layout))
    return view;
  // By symbol and type: modules that declare one symbol differently may share this source.
  const std::string key = decl.symbol + " " + dtype_name(decl.dtype) + " " + layout_name(decl.layout) +
                          (decl.scales == ScaleGranularity::PerChannel ? " per_channel" : " per_tensor");
  auto it = converted_.find(key);
  if (it == converted_.end()) {
    try {
      it = converted_.emplace(key, convert_weight(view, decl.dtype, decl.scales, decl.layout)).first;
    } catch (const Error& e) {
      const std::string file = tensor.file_path().empty() ? model_.path : tensor.file_path();
      throw Error(e.kind(), file + ": tensor '" + decl.source + "' (weight @" + decl.symbol + "): " + e.what());
    }
  }
  return TensorView{decl.dtype, view.shape, it->second, decl.scales};
}

}  // namespace aprc::reference
