#include "aprc/generate.h"

#include <algorithm>
#include <chrono>

#include "aprc/error.h"

namespace aprc {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GenerateResult generate(LanguageModel& model, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& emit) {
  if (prompt.empty()) throw_bad_input("generate: the prompt has no tokens");
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampler);
  for (int32_t id : prompt) sampler.accept(id);
  StreamDecoder text(tokenizer);
  auto interrupted = [&] { return options.interrupted && options.interrupted->load(); };

  // Greedy with no repetition penalty, from a model that picks such tokens itself (greedy_run() > 1: a
  // Session on the cuda engine): the tokens come from decode_greedy a few at a time, so the steps run back
  // to back with the tokens picked on the GPU while the text still streams in small pieces (up to
  // greedy_run() - 1 tokens past a stop token are decoded for nothing). Elsewhere decode() and the sampler.
  const bool plain_greedy =
      options.sampler.temperature <= 0 && options.sampler.repeat_penalty == 1.0f && model.greedy_run() > 1;
  std::vector<int32_t> ahead;  // tokens picked by decode_greedy, all but the last already fed
  size_t taken = 0;

  auto start = std::chrono::steady_clock::now();
  std::span<const float> logits = model.prefill(prompt);
  result.prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (;;) {
    if (options.max_new_tokens >= 0 && static_cast<int64_t>(result.tokens.size()) >= options.max_new_tokens) {
      result.stop = GenerateStop::Length;  // checked first: -n 0 prefills and generates nothing
      break;
    }
    if (interrupted()) {
      result.stop = GenerateStop::Interrupted;
      break;
    }
    const int32_t id = taken < ahead.size() ? ahead[taken++] : sampler.next(logits);
    if (tokenizer.is_stop(id)) {
      result.stop = GenerateStop::StopToken;
      break;
    }
    result.tokens.push_back(id);
    emit(text.push(id));
    if (options.max_new_tokens >= 0 && static_cast<int64_t>(result.tokens.size()) >= options.max_new_tokens) {
      result.stop = GenerateStop::Length;  // before decode(): the last token needs no logits
      break;
    }
    if (taken == ahead.size() && model.position() >= model.context()) {  // `id` would be fed next, and cannot
      result.stop = GenerateStop::ContextFull;
      break;
    }
    if (!plain_greedy) {
      logits = model.decode(id);
    } else if (taken == ahead.size()) {  // feed `id` and pick the next few; else `id` is fed already
      int64_t n = std::min<int64_t>(model.greedy_run(), model.context() - model.position());
      if (options.max_new_tokens >= 0)
        n = std::min<int64_t>(n, options.max_new_tokens - static_cast<int64_t>(result.tokens.size()));
      ahead.resize(static_cast<size_t>(n));
      model.decode_greedy(id, ahead);
      taken = 0;
    }
  }
  emit(text.finish());
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace aprc
