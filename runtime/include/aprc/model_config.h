// The configuration of a Qwen2-family model: what every importer reads from a model file, what the
// compiler builds the IR from, and what a plan's manifest records. It lives with the runtime (not
// with frontend/'s Model) because plans and synthetic models need it without the frontend.
#pragma once

#include <cstdint>
#include <string>

namespace aprc {

enum class RopeType { Neox, Normal };

struct ModelConfig {
  std::string architecture = "qwen2";
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  double rope_theta = 1e6;
  RopeType rope_type = RopeType::Neox;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 32768;
  bool tied_embeddings = false;
  bool operator==(const ModelConfig&) const = default;
};

}  // namespace aprc
