// Model configuration <-> JSON. One reader serves APR v2 metadata and Hugging Face config.json: it
// accepts both spellings of every key (num_layers / num_hidden_layers, rope_theta at the top or in
// rope_parameters, ...), and refuses what aprc cannot compile (rope scaling) with the key's name.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "aprc/model.h"

namespace aprc {

struct ConfigFromJson {
  ModelConfig config;
  std::optional<bool> tied;  // tie_word_embeddings / tied_embeddings when the JSON says
};

// `path` names the file in errors. Missing required keys and wrong types are BadInput. vocab_size
// is optional (0 when absent): APR files may leave it to the embedding's row count.
ConfigFromJson config_from_json(const nlohmann::json& j, const std::string& path);

// Parses JSON text; a syntax error is BadInput naming `path` and the byte offset. `callback`, when
// given, is nlohmann's parser callback (it can drop values while parsing).
nlohmann::json parse_json_text(std::string_view text, const std::string& path,
                               const nlohmann::json::parser_callback_t& callback = nullptr);

// The "config" object of `aprc inspect --json`.
nlohmann::json config_to_json(const ModelConfig& config);

const char* rope_type_name(RopeType type);

}  // namespace aprc
