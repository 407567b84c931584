// The generation loop every engine shares: prompt -> prefill -> sample -> decode -> sample ...,
// text streamed through the tokenizer's StreamDecoder as soon as it is whole UTF-8, until a stop
// token, the token limit, an interrupt (Ctrl-C) or a full context.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "aprc/runtime.h"
#include "aprc/sampler.h"
#include "aprc/tokenizer.h"

namespace aprc {

struct GenerateOptions {
  int64_t max_new_tokens = 128;  // -1: until a stop token (or the context is full)
  SamplerConfig sampler;
  const std::atomic<bool>* interrupted = nullptr;  // checked before every token
};

enum class GenerateStop {
  StopToken,    // the model produced a stop token (not printed)
  Length,       // max_new_tokens reached
  Interrupted,  // *interrupted became true
  ContextFull,  // more tokens were wanted but the context has no room for them
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated, without the stop token
  GenerateStop stop = GenerateStop::Length;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;  // the prompt, up to the first token's logits
  double decode_seconds = 0;   // every later token
};

// Feeds `prompt` after whatever `model` holds and generates; `emit` receives the text as it
// becomes printable (the prompt is not emitted). The prompt's tokens count for the repetition
// penalty.
GenerateResult generate(LanguageModel& model, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& emit);

}  // namespace aprc
