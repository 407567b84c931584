// Hugging Face tokenizer.json (byte-level BPE) -> TokenizerData. When tokenizer_config.json lies
// beside it, the bos/eos/pad tokens, add_bos_token and the chat template come from there (or from
// chat_template.jinja, where newer transformers put the template).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "aprc/tokenizer_data.h"

namespace aprc {

TokenizerData load_tokenizer_json(const std::string& path);

// The same from parsed JSON: `config` (tokenizer_config.json) may be null; paths name the files in
// errors.
TokenizerData tokenizer_from_json(const nlohmann::json& tokenizer, const std::string& path,
                                  const nlohmann::json* config, const std::string& config_path);

}  // namespace aprc
