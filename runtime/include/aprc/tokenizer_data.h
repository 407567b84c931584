// The tokenizer as data: what a model file carries, in one shape whatever file it came from.
// The tokenizer itself (runtime/tokenizer) is built from this; plans store it in their manifest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aprc {

// Token types as GGUF numbers them (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

struct TokenizerData {
  std::string model = "gpt2";      // byte-level BPE
  std::string pre = "qwen2";       // pre-tokenizer name (GGUF tokenizer.ggml.pre)
  std::string pre_regex;           // the split regex when the file gives one (tokenizer.json)
  std::vector<std::string> tokens;     // id -> token text in byte-level form ("Ġthe")
  std::vector<TokenType> token_types;  // same length as tokens (Normal when the file has none)
  std::vector<std::string> merges;     // "a b", by rank
  int64_t bos_id = -1;
  int64_t eos_id = -1;        // generation stops here (Qwen2.5 instruct: <|im_end|>)
  int64_t pad_id = -1;
  bool add_bos = false;
  std::string chat_template;  // the Jinja source from the file; aprc applies ChatML
  bool empty() const { return tokens.empty(); }
};

}  // namespace aprc
