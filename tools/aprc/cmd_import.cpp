// aprc import IN -o OUT.apr|OUT.gguf [--quant SCHEME]: any model aprc reads, written by aprc's own
// writers as APR v2 or GGUF v3, its tensors kept or quantized (llama.cpp's choices per tensor,
// quant_scheme.h). The written file is read back and compared with what was meant to be written.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aprc/apr.h"
#include "aprc/error.h"
#include "aprc/gguf_writer.h"
#include "aprc/model.h"
#include "args.h"
#include "commands.h"

namespace aprc {
namespace {

constexpr const char* kUsage =
    "usage: aprc import IN -o OUT.apr|OUT.gguf [--quant keep|f16|q8_0|q4_k_m] [--embedding-type T] [--output-type T]\n"
    "                   [--f32] [--no-tied-copy] [--json] [--quiet]\n"
    "  IN: a .gguf file (any file of a split set), an .apr file, or a Hugging Face folder.\n"
    "  -o: the output's format follows its extension (.gguf: GGUF v3, anything else: APR v2).\n"
    "  --quant: keep (default: every tensor as stored), f16, q8_0, or q4_k_m (llama.cpp's Q4_K_M mix:\n"
    "           Q4_K, Q6_K for the output and half of attn_v/ffn_down); norms and biases f32.\n"
    "  --embedding-type, --output-type T: the token embedding's / output projection's format instead\n"
    "           (llama-quantize's --token-embedding-type / --output-tensor-type): f32, f16, bf16, q8_0,\n"
    "           q5_0, q4_k, q5_k or q6_k. A tied model's embedding is its output: give one of them.\n"
    "  --f32: APR: store tensors whose format APR cannot hold (q8_0, q5_0, q5_k) as f32, not f16.\n"
    "  --no-tied-copy: APR: leave out lm_head.weight of a tied model (aprc reads it tied either way).\n"
    "  --json: print a JSON summary instead of text. --quiet: no progress on stderr.\n";

bool same_float(double a, double b) { return static_cast<float>(a) == static_cast<float>(b); }

// The written file must read back as the model that was meant: the same config (GGUF keeps floats
// as f32), the same tensor names and shapes, the same tokenizer (GGUF pads it to the vocabulary).
void check_round_trip(const Model& in, const Model& out) {
  ModelConfig a = in.config, b = out.config;
  if (!same_float(a.rope_theta, b.rope_theta) || !same_float(a.rms_norm_eps, b.rms_norm_eps))
    throw_internal(out.path + ": read back with a different rope_theta or rms_norm_eps");
  a.rope_theta = b.rope_theta;
  a.rms_norm_eps = b.rms_norm_eps;
  if (!(a == b)) throw_internal(out.path + ": read back with a different config");
  if (in.tensors.size() != out.tensors.size())
    throw_internal(out.path + ": read back " + std::to_string(out.tensors.size()) + " tensors, wrote " +
                   std::to_string(in.tensors.size()));
  for (const auto& [name, t] : in.tensors) {
    const TensorRef* o = out.find(name);
    if (!o || o->shape != t.shape) throw_internal(out.path + ": tensor '" + name + "' did not read back the same");
  }
  const auto& ti = in.tokenizer.tokens;
  const auto& to = out.tokenizer.tokens;
  if (to.size() < ti.size() || !std::equal(ti.begin(), ti.end(), to.begin()) || in.tokenizer.merges != out.tokenizer.merges ||
      in.tokenizer.eos_id != out.tokenizer.eos_id)
    throw_internal(out.path + ": the tokenizer did not read back the same");
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int cmd_import(int argc, char** argv) {
  cli::Args args("import", argc, argv, {"o", "quant", "embedding-type", "output-type"},
                 {"f32", "json", "quiet", "no-tied-copy", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string in_path = args.positional(0, "IN");
  const auto out_path = args.value("o");
  if (!out_path) throw_bad_input("aprc import: missing -o OUT.apr or -o OUT.gguf");
  const bool json_out = args.flag("json"), quiet = args.flag("quiet") || json_out;
  const std::string quant_name = args.value_or("quant", "keep");
  const auto quant = quant_scheme_from_name(quant_name);
  if (!quant) throw_bad_input("aprc import: --quant " + quant_name + ": the schemes are keep, f16, q8_0, q4_k_m");
  const bool gguf = ends_with(*out_path, ".gguf");
  if (!gguf && *quant == QuantScheme::Q8_0)
    throw_bad_input("aprc import: --quant q8_0: APR holds no q8_0 blocks (use f16 or q4_k_m, or write a .gguf)");

  const auto start = std::chrono::steady_clock::now();
  const Model in = load_model(in_path);
  QuantOverrides overrides;
  for (const auto& [option, field] : {std::pair{"embedding-type", &overrides.embedding}, std::pair{"output-type", &overrides.output}})
    if (const auto name = args.value(option)) {
      *field = dtype_from_name(*name);
      if (!*field) throw_bad_input(std::string("aprc import: --") + option + " " + *name + ": not a tensor format");
    }
  check_quant_overrides(overrides, in.config, "aprc import");

  std::map<std::string, size_t> stored_types;
  size_t converted = 0;
  auto progress = [&](size_t k, size_t n, const std::string& name, DType from, DType to) {
    ++stored_types[dtype_name(to)];
    if (from != to) ++converted;
    if (!quiet)
      std::fprintf(stderr, "[%zu/%zu] %s %s%s%s\n", k + 1, n, name.c_str(), dtype_name(from), from != to ? " -> " : "",
                   from != to ? dtype_name(to) : "");
  };
  if (gguf) {
    GgufWriteOptions options;
    options.quant = *quant;
    options.overrides = overrides;
    options.progress = progress;
    write_gguf(in, *out_path, options);
  } else {
    AprWriteOptions options;
    options.quant = *quant;
    options.overrides = overrides;
    options.convert_to = args.flag("f32") ? DType::F32 : DType::F16;
    options.tied_copy = !args.flag("no-tied-copy");
    options.progress = progress;
    write_apr(in, *out_path, options);
  }
  const Model out = load_model(*out_path);
  check_round_trip(in, out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  uint64_t total = 0;
  for (const auto& [name, t] : out.tensors) total += t.bytes.size();
  std::string types;
  for (const auto& [t, n] : stored_types) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  if (json_out) {
    std::puts(nlohmann::json{{"input", in_path},
                             {"input_format", in.format},
                             {"output", *out_path},
                             {"output_format", out.format},
                             {"quant", quant_scheme_name(*quant)},
                             {"embedding_type", overrides.embedding ? nlohmann::json(dtype_name(*overrides.embedding)) : nlohmann::json()},
                             {"output_type", overrides.output ? nlohmann::json(dtype_name(*overrides.output)) : nlohmann::json()},
                             {"tensors", out.tensors.size()},
                             {"stored_types", stored_types},
                             {"converted", converted},
                             {"total_bytes", total},
                             {"seconds", seconds}}
                  .dump(2)
                  .c_str());
  } else {
    fmt::print("{}: wrote {} tensors ({}; {} converted), {:.1f} MB of weights, from {} ({}) in {:.1f} s\n", *out_path,
               out.tensors.size(), types, converted, total / 1e6, in_path, in.format, seconds);
  }
  return 0;
}

}  // namespace aprc
