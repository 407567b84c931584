// aprc import IN -o OUT.apr: any model aprc reads, written as APR v2. Q4_K/Q6_K blocks and
// F32/F16/BF16 tensors are copied unchanged; types APR cannot hold (Q8_0, Q5_0, Q5_K) become f16
// (f32 with --f32, or where a value exceeds the f16 range). The result is read back and compared.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aprc/apr.h"
#include "aprc/error.h"
#include "aprc/model.h"
#include "args.h"
#include "commands.h"

namespace aprc {
namespace {

constexpr const char* kUsage =
    "usage: aprc import IN -o OUT.apr [--f32] [--json]\n"
    "  IN: a .gguf file (any file of a split set), an .apr file, or a Hugging Face folder.\n"
    "  --f32: store converted tensors (types APR cannot hold) as f32 instead of f16.\n"
    "  --json: print a JSON summary instead of text.\n";

// The written file must read back as the model that was written.
void check_round_trip(const Model& in, const Model& out) {
  if (!(in.config == out.config)) throw_internal(out.path + ": read back with a different config");
  if (in.tensors.size() != out.tensors.size())
    throw_internal(out.path + ": read back " + std::to_string(out.tensors.size()) + " tensors, wrote " +
                   std::to_string(in.tensors.size()));
  for (const auto& [name, t] : in.tensors) {
    const TensorRef* o = out.find(name);
    if (!o || o->shape != t.shape) throw_internal(out.path + ": tensor '" + name + "' did not read back the same");
  }
  if (in.tokenizer.tokens != out.tokenizer.tokens || in.tokenizer.merges != out.tokenizer.merges ||
      in.tokenizer.eos_id != out.tokenizer.eos_id)
    throw_internal(out.path + ": the tokenizer did not read back the same");
}

}  // namespace

int cmd_import(int argc, char** argv) {
  cli::Args args("import", argc, argv, {"o"}, {"f32", "json", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string in_path = args.positional(0, "IN");
  const auto out_path = args.value("o");
  if (!out_path) throw_bad_input("aprc import: missing -o OUT.apr");
  const bool json_out = args.flag("json");

  const Model in = load_model(in_path);
  AprWriteOptions options;
  options.convert_to = args.flag("f32") ? DType::F32 : DType::F16;
  size_t converted = 0;
  options.progress = [&](size_t k, size_t n, const std::string& name, DType from, DType to) {
    if (from != to) ++converted;
    if (!json_out && from != to)
      std::fprintf(stderr, "[%zu/%zu] %s: %s -> %s\n", k + 1, n, name.c_str(), dtype_name(from), dtype_name(to));
  };
  write_apr(in, *out_path, options);
  const Model out = load_model(*out_path);
  check_round_trip(in, out);

  uint64_t total = 0;
  for (const auto& [name, t] : out.tensors) total += t.bytes.size();
  if (json_out) {
    std::puts(nlohmann::json{{"input", in_path},
                             {"input_format", in.format},
                             {"output", *out_path},
                             {"tensors", out.tensors.size()},
                             {"converted", converted},
                             {"total_bytes", total}}
                  .dump(2)
                  .c_str());
  } else {
    fmt::print("{}: wrote {} tensors ({} converted), {} bytes of weights, from {} ({})\n", *out_path,
               out.tensors.size(), converted, total, in_path, in.format);
  }
  return 0;
}

}  // namespace aprc
