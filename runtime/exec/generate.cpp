#include "aprc/generate.h"

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
    const int32_t id = sampler.next(logits);
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
    if (model.position() >= model.context()) {
      result.stop = GenerateStop::ContextFull;
      break;
    }
    logits = model.decode(id);
  }
  emit(text.finish());
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace aprc
