// aprc logits MODEL (--ids 1,2,3 | --prompt TEXT) -o OUT.f32 [--engine reference]: the logits of
// every position of the prompt, [T][vocab] float32 little-endian, for comparing engines.
#include <bit>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/tokenizer.h"
#include "aprc/interpreter/reference_model.h"
#include "commands.h"

namespace aprc {
namespace {

// Token ids from `--ids 1,2,3`, checked against the vocabulary.
std::vector<int32_t> checked_ids(const std::vector<int64_t>& ids, int64_t vocab) {
  std::vector<int32_t> out;
  for (int64_t id : ids) {
    if (id >= vocab)
      throw_bad_input("--ids: token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                      std::to_string(vocab) + " tokens");
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

}  // namespace

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
  if (args.value("ids").has_value() == args.value("prompt").has_value())
    throw_bad_input("aprc logits: give exactly one of --ids and --prompt");
  const std::string engine_name = args.value_or("engine", "reference");
  if (engine_name != "reference")
    throw_bad_input("aprc logits: unknown --engine '" + engine_name + "' (engines: reference)");

  const std::string model_path = args.positional(0, "MODEL");
  reference::ReferenceModel model(model_path);
  std::vector<int32_t> ids;
  if (auto text = args.value("ids")) {
    ids = checked_ids(cli::parse_id_list(*text, "--ids"), model.vocab_size());
  } else {
    if (model.model().tokenizer.empty()) throw_bad_input(model_path + ": the model carries no tokenizer (use --ids)");
    ids = Tokenizer(model.model().tokenizer, model_path).encode(*args.value("prompt"));
    if (ids.empty()) throw_bad_input("aprc logits: --prompt gives no tokens");
  }

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
