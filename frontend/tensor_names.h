// The one mapping from the tensor names model files use onto aprc's canonical (Hugging Face) names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aprc {

// GGUF names (blk.N.attn_q.weight, token_embd.weight, output.weight, ...) map onto the Hugging Face
// ones (model.layers.N.self_attn.q_proj.weight, ...); Hugging Face names and names aprc does not
// know are returned unchanged.
std::string canonical_tensor_name(std::string_view name);

// The inverse: the GGUF name of a canonical name, nullopt for a name GGUF has no spelling for.
std::optional<std::string> gguf_tensor_name(std::string_view canonical_name);

// N for a name "model.layers.N.<rest>", else nullopt.
std::optional<int64_t> layer_index(std::string_view canonical_name);

}  // namespace aprc
