// aprc logits MODEL (--ids 1,2,3 | --prompt TEXT) -o OUT.f32 [--engine reference]: the logits of
// every position of the prompt, [T][vocab] float32 little-endian, for comparing engines.
#include <bit>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/interpreter/reference_model.h"
#include "commands.h"
#include "prompt_ids.h"

namespace aprc {

static_assert(std::endian::native == std::endian::little, "logits files are written as little-endian floats");

int cmd_logits(int argc, char** argv) {
  cli::Args args("logits", argc, argv, {"ids", "prompt", "o", "engine"}, {"json", "help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc logits MODEL (--ids 1,2,3 | --prompt TEXT) -o OUT.f32 [--engine reference] [--json]\n"
        "Writes the logits of every prompt position, [T][vocab] float32 little-endian, and prints T and vocab.\n"
        "  --prompt TEXT       tokenized with the model's tokenizer (special tokens recognized)\n"
        "  --engine reference  the reference interpreter (fp32 values, fp64 sums; the default)\n");
    return 0;
  }
  args.expect_positionals(1, 1);
  const auto out_path = args.value("o");
  if (!out_path) throw_bad_input("aprc logits: -o OUT.f32 is required");
  const std::string engine_name = args.value_or("engine", "reference");
  if (engine_name != "reference")
    throw_bad_input("aprc logits: unknown --engine '" + engine_name + "' (engines: reference)");

  const std::string model_path = args.positional(0, "MODEL");
  reference::ReferenceModel model(model_path);
  const std::vector<int32_t> ids = prompt_ids(args, model.model(), "logits");

  const std::vector<float> logits = model.prefill_all(ids);
  std::ofstream file(*out_path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!file.flush()) throw_bad_input(*out_path + ": cannot write the file");

  const auto T = static_cast<long long>(ids.size()), vocab = static_cast<long long>(model.vocab_size());
  if (args.flag("json"))
    std::printf("%s\n", nlohmann::json{{"T", T}, {"vocab", vocab}, {"ids", ids}, {"output", *out_path}}.dump().c_str());
  else
    std::printf("T %lld vocab %lld -> %s\n", T, vocab, out_path->c_str());
  return 0;
}

}  // namespace aprc
