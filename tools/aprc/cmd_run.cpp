// aprc run MODEL --prompt TEXT [--chat] [-n N] [sampling flags]: generates text and prints it as it
// comes, through the runtime's generation loop. Ctrl-C stops after the current token (a second
// Ctrl-C exits at once, with code 130).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/generate.h"
#include "aprc/interpreter/reference_model.h"
#include "aprc/tokenizer.h"
#include "commands.h"

namespace aprc {
namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_interrupt(int) {
  if (g_interrupted.load()) _exit(130);
  g_interrupted.store(true);
}

// Catches SIGINT while the command runs; the default comes back however it ends.
struct InterruptScope {
  InterruptScope() {
    g_interrupted.store(false);
    std::signal(SIGINT, on_interrupt);
  }
  ~InterruptScope() { std::signal(SIGINT, SIG_DFL); }
};

const char* stop_text(GenerateStop stop) {
  switch (stop) {
    case GenerateStop::StopToken: return "stop token";
    case GenerateStop::Length: return "-n reached";
    case GenerateStop::Interrupted: return "interrupted";
    case GenerateStop::ContextFull: return "context full";
  }
  return "";
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
        "Generates up to N tokens (default 128; -1: until a stop token) after the prompt and prints them as\n"
        "they come; the token counts and speeds go to stderr.\n"
        "  --chat            wrap the prompt in the model's chat template (a user turn)\n"
        "  --temperature 0   greedy decoding (defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05)\n"
        "  --engine reference  the reference interpreter on the model file (the default)\n"
        "  Ctrl-C stops after the current token.\n");
    return 0;
  }
  args.expect_positionals(1, 1);
  InterruptScope interrupts;  // from the start, so that Ctrl-C while loading stops cleanly too
  const auto prompt = args.value("prompt");
  if (!prompt) throw_bad_input("aprc run: --prompt TEXT is required");
  const std::string engine_name = args.value_or("engine", "reference");
  if (engine_name != "reference") throw_bad_input("aprc run: unknown --engine '" + engine_name + "' (engines: reference)");

  GenerateOptions options;
  options.max_new_tokens = args.int_or("n", options.max_new_tokens);
  if (options.max_new_tokens < -1) throw_bad_input("aprc run: -n must be -1 or more");
  SamplerConfig& s = options.sampler;
  s.temperature = static_cast<float>(args.double_or("temperature", s.temperature));
  s.top_k = static_cast<int32_t>(args.int_or("top-k", s.top_k));
  s.top_p = static_cast<float>(args.double_or("top-p", s.top_p));
  s.min_p = static_cast<float>(args.double_or("min-p", s.min_p));
  s.repeat_penalty = static_cast<float>(args.double_or("repeat-penalty", s.repeat_penalty));
  s.seed = static_cast<uint64_t>(args.int_or("seed", 0));
  options.interrupted = &g_interrupted;

  const std::string model_path = args.positional(0, "MODEL");
  reference::ReferenceModel model(model_path);
  if (model.model().tokenizer.empty()) throw_bad_input(model_path + ": the model carries no tokenizer");
  const Tokenizer tokenizer(model.model().tokenizer, model_path);
  std::string text = *prompt;
  if (args.flag("chat")) {
    std::vector<ChatMessage> messages;
    if (auto system = args.value("system")) messages.push_back({"system", *system});
    messages.push_back({"user", text});
    text = ChatTemplate(model.model().tokenizer).apply(messages);
  }
  const std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.empty()) throw_bad_input("aprc run: the prompt gives no tokens");

  const GenerateResult result = generate(model, tokenizer, ids, options, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n");
  std::fflush(stdout);
  const auto n = static_cast<long long>(result.tokens.size());
  std::fprintf(stderr, "[%s] %lld prompt tokens in %.2f s; %lld tokens in %.2f s (%.2f tokens/s, reference engine)\n",
               stop_text(result.stop), static_cast<long long>(result.prompt_tokens), result.prefill_seconds, n,
               result.decode_seconds, result.decode_seconds > 0 ? n / result.decode_seconds : 0.0);
  return 0;
}

}  // namespace aprc
