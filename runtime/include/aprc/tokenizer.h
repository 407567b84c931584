// Qwen2-style byte-level BPE: text <-> token ids, the streaming detokenizer that generation prints
// through, and the ChatML chat template. Built from aprc::TokenizerData, whatever file it came from
// (tokenizer.json, GGUF tokenizer.ggml.*, APR metadata, a plan's manifest).
//
// Encoding follows Hugging Face `tokenizers` for a Qwen2 tokenizer.json: added tokens are split out
// of the raw text first (leftmost, then longest match); every other stretch is NFC-normalized, split
// by the pre-tokenizer regex (PCRE2, UTF + UCP), mapped byte by byte to GPT-2's printable alphabet
// and merged by rank. Decoding maps back to bytes and replaces invalid UTF-8 with U+FFFD.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/tokenizer_data.h"

namespace aprc {

class Tokenizer {
 public:
  // `source` names where the data came from (a file path); errors name it. Throws Error(BadInput)
  // when the data cannot make a tokenizer (an unknown model or pre-tokenizer, a merge of tokens
  // that are not in the vocabulary, a byte without a token, a regex that does not compile).
  explicit Tokenizer(const TokenizerData& data, std::string source = "tokenizer");
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Text -> ids. Added tokens that are not control tokens (Qwen's <tool_call>, <think>) are always
  // recognized in the text; control tokens (<|im_start|>, <|endoftext|>) only when `parse_special`
  // (so that user text can be encoded literally). Never adds BOS/EOS. Throws Error(BadInput) when
  // the text is not valid UTF-8. Thread-safe.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;

  // Ids -> text; invalid UTF-8 (a token sequence cut inside a character) becomes U+FFFD.
  // `skip_special` leaves control tokens out. Throws Error(BadInput) for an id outside the
  // vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The bytes one token stands for (possibly an incomplete UTF-8 sequence); empty for unused ids.
  const std::string& token_bytes(int32_t id) const;
  // The token as the vocabulary spells it ("Ġthe", "<|im_end|>").
  const std::string& token_text(int32_t id) const;
  std::optional<int32_t> find_token(std::string_view text) const;

  int32_t size() const;  // number of token ids
  bool is_control(int32_t id) const;
  // Generation stops at the end-of-sequence id and at <|im_end|> and <|endoftext|>.
  bool is_stop(int32_t id) const;
  const std::vector<int32_t>& stop_ids() const;

  const TokenizerData& data() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of generated ids into text as soon as it is complete UTF-8: a character whose bytes
// are spread over several tokens is held back until its last byte arrives. Concatenating every
// push() and the final finish() gives exactly Tokenizer::decode of all the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = true);
  // The text that became complete with `id`. Ids outside the tokenizer's vocabulary (a model's
  // embedding table can be padded past it) add nothing.
  std::string push(int32_t id);
  // What is still held back, with an unfinished character as U+FFFD; resets the decoder.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of a character not yet complete
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// ChatML as Qwen2.5's template writes it:
//   <|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nTEXT<|im_end|>\n<|im_start|>assistant\n
// When the conversation does not open with a system message, the template's default system prompt
// is used: the one the model's Jinja template spells (Qwen2.5: "You are Qwen, created by Alibaba
// Cloud. You are a helpful assistant."), Qwen2.5's when the model carries no template, and none
// when its template has none (Qwen3).
class ChatTemplate {
 public:
  explicit ChatTemplate(const TokenizerData& data);
  explicit ChatTemplate(std::optional<std::string> default_system)
      : default_system_(std::move(default_system)) {}

  const std::optional<std::string>& default_system() const { return default_system_; }
  // Throws Error(BadInput) for a role other than system, user or assistant.
  std::string apply(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;

 private:
  std::optional<std::string> default_system_;
};

// Qwen2.5's default system prompt.
extern const char* const kQwen25DefaultSystemPrompt;

// The default system prompt a Jinja chat template writes when none is given, if it writes one.
std::optional<std::string> default_system_prompt_of(std::string_view jinja_template);

}  // namespace aprc
