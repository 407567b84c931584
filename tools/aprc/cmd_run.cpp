// aprc run MODEL --prompt TEXT [--chat] [-n N] [sampling flags]: generates text and prints it as it
// comes. Ctrl-C stops after the current token (a second Ctrl-C exits at once, with code 130).
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/sampler.h"
#include "aprc/tokenizer.h"
#include "commands.h"
#include "reference_engine.h"

namespace aprc {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) {
  if (g_interrupted) _exit(130);
  g_interrupted = 1;
}

// Restores the default SIGINT behaviour when generation ends, however it ends.
struct InterruptScope {
  InterruptScope() {
    g_interrupted = 0;
    std::signal(SIGINT, on_interrupt);
  }
  ~InterruptScope() { std::signal(SIGINT, SIG_DFL); }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int cmd_run(int argc, char** argv) {
  cli::Args args("run", argc, argv,
                 {"prompt", "n", "temperature", "top-k", "top-p", "min-p", "repeat-penalty", "seed", "system", "engine"},
                 {"chat", "help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc run MODEL --prompt TEXT [--chat [--system TEXT]] [-n N] [--temperature T] [--top-k K]\n"
        "                [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--engine reference]\n"
        "Generates up to N tokens (default 128) after the prompt and prints them as they come.\n"
        "  --chat            wrap the prompt in the model's chat template (a user turn)\n"
        "  --temperature 0   greedy decoding (defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05)\n"
        "  Ctrl-C stops after the current token.\n");
    return 0;
  }
  args.expect_positionals(1, 1);
  InterruptScope interrupts;  // from the start, so that Ctrl-C while loading stops cleanly too
  const auto prompt = args.value("prompt");
  if (!prompt) throw_bad_input("aprc run: --prompt TEXT is required");
  const std::string engine_name = args.value_or("engine", "reference");
  if (engine_name != "reference") throw_bad_input("aprc run: unknown --engine '" + engine_name + "' (engines: reference)");
  const int64_t max_tokens = args.int_or("n", 128);
  if (max_tokens < 0) throw_bad_input("aprc run: -n must not be negative");

  SamplerConfig sampling;
  sampling.temperature = static_cast<float>(args.double_or("temperature", sampling.temperature));
  sampling.top_k = static_cast<int32_t>(args.int_or("top-k", sampling.top_k));
  sampling.top_p = static_cast<float>(args.double_or("top-p", sampling.top_p));
  sampling.min_p = static_cast<float>(args.double_or("min-p", sampling.min_p));
  sampling.repeat_penalty = static_cast<float>(args.double_or("repeat-penalty", sampling.repeat_penalty));
  sampling.seed = static_cast<uint64_t>(args.int_or("seed", 0));

  const std::string model_path = args.positional(0, "MODEL");
  ReferenceEngine engine(model_path);
  if (engine.model().tokenizer.empty()) throw_bad_input(model_path + ": the model carries no tokenizer");
  const Tokenizer tokenizer(engine.model().tokenizer, model_path);
  std::string text = *prompt;
  if (args.flag("chat")) {
    std::vector<ChatMessage> messages;
    if (auto system = args.value("system")) messages.push_back({"system", *system});
    messages.push_back({"user", text});
    text = ChatTemplate(engine.model().tokenizer).apply(messages);
  }
  const std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.empty()) throw_bad_input("aprc run: the prompt gives no tokens");
  const int64_t max_seq = engine.model().config.max_position_embeddings;
  if (static_cast<int64_t>(ids.size()) >= max_seq)
    throw_bad_input("aprc run: the prompt has " + std::to_string(ids.size()) + " tokens, the model holds " +
                    std::to_string(max_seq) + " positions");

  Sampler sampler(sampling);
  for (int32_t id : ids) sampler.accept(id);
  StreamDecoder stream(tokenizer);

  const auto start = std::chrono::steady_clock::now();
  reference::Activation logits = engine.prefill_last(ids, 0);
  const double prompt_seconds = seconds_since(start);
  int64_t pos = static_cast<int64_t>(ids.size()), generated = 0;
  const auto gen_start = std::chrono::steady_clock::now();
  while (generated < max_tokens && !g_interrupted && pos < max_seq) {
    const int32_t next = sampler.next(logits.data);
    ++generated;
    if (tokenizer.is_stop(next)) break;
    const std::string piece = stream.push(next);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    if (generated == max_tokens || g_interrupted) break;
    logits = engine.decode(next, pos++);
  }
  const std::string rest = stream.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  const double gen_seconds = seconds_since(gen_start);
  std::fprintf(stderr, "%s%zu prompt tokens in %.2f s; %lld tokens in %.2f s (%.2f tokens/s, reference engine)\n",
               g_interrupted ? "[interrupted] " : "", ids.size(), prompt_seconds, static_cast<long long>(generated),
               gen_seconds, gen_seconds > 0 ? generated / gen_seconds : 0.0);
  return 0;
}

}  // namespace aprc
