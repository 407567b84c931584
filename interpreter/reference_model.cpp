#include "aprc/interpreter/reference_model.h"

#include "aprc/error.h"
#include "aprc/ir/builder.h"

namespace aprc::reference {

ReferenceModel::ReferenceModel(const std::string& model_path)
    : model_(load_model(model_path)), module_(ir::build_module(model_)), weights_(model_), interpreter_(module_, weights_) {}

void ReferenceModel::reset() {
  interpreter_.reset();
  position_ = 0;
}

void ReferenceModel::check_fits(std::span<const int32_t> ids) const {
  if (ids.empty()) throw_bad_input(model_.path + ": no tokens to run");
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_size())
      throw_bad_input(model_.path + ": token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(vocab_size()) + " tokens");
  if (position_ + static_cast<int64_t>(ids.size()) > context())
    throw_bad_input(model_.path + ": " + std::to_string(position_) + " + " + std::to_string(ids.size()) +
                    " tokens do not fit the context of " + std::to_string(context()) + " positions");
}

std::span<const float> ReferenceModel::prefill(std::span<const int32_t> ids) {
  check_fits(ids);
  logits_ = interpreter_.run(ids.size() == 1 ? "decode" : "prefill_last", ids, position_);
  position_ += static_cast<int64_t>(ids.size());
  return logits_.data;
}

std::vector<float> ReferenceModel::prefill_all(std::span<const int32_t> ids) {
  check_fits(ids);
  Activation all = interpreter_.run("prefill", ids, position_);
  position_ += static_cast<int64_t>(ids.size());
  logits_ = Activation(1, all.cols);
  std::copy(all.row(all.rows - 1), all.row(all.rows), logits_.data.begin());
  return std::move(all.data);
}

}  // namespace aprc::reference
