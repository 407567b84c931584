#include "aprc/model.h"

#include "aprc/error.h"

namespace aprc {

const TensorRef* Model::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

const TensorRef& Model::tensor(const std::string& name) const {
  if (const TensorRef* t = find(name)) return *t;
  throw_bad_input(path + ": missing tensor '" + name + "'");
}

const TensorRef& Model::output_weight() const {
  if (const TensorRef* t = find(names::lm_head())) return *t;
  if (config.tied_embeddings) return tensor(names::embed_tokens());
  throw_bad_input(path + ": missing tensor '" + names::lm_head() + "' (the model is not tied)");
}

namespace names {
std::string embed_tokens() { return "model.embed_tokens.weight"; }
std::string lm_head() { return "lm_head.weight"; }
std::string final_norm() { return "model.norm.weight"; }
std::string layer(int64_t i, const char* rest) { return "model.layers." + std::to_string(i) + "." + rest; }
}  // namespace names

}  // namespace aprc
