#include "reference_engine.h"

#include "aprc/error.h"
#include "aprc/ir/builder.h"

namespace aprc {

ReferenceEngine::ReferenceEngine(const std::string& model_path)
    : model_(load_model(model_path)),
      module_(ir::build_module(model_)),
      weights_(model_),
      interpreter_(module_, weights_) {}

reference::Activation ReferenceEngine::prefill(std::span<const int32_t> ids, int64_t pos) {
  return interpreter_.run("prefill", ids, pos);
}

reference::Activation ReferenceEngine::prefill_last(std::span<const int32_t> ids, int64_t pos) {
  return interpreter_.run("prefill_last", ids, pos);
}

reference::Activation ReferenceEngine::decode(int32_t id, int64_t pos) {
  return interpreter_.run("decode", std::span(&id, 1), pos);
}

std::vector<int32_t> checked_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& what) {
  std::vector<int32_t> out;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab)
      throw_bad_input(what + ": token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                      std::to_string(vocab) + " tokens");
    out.push_back(static_cast<int32_t>(id));
  }
  if (out.empty()) throw_bad_input(what + ": no token ids");
  return out;
}

}  // namespace aprc
