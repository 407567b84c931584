// Writes small valid inputs for every fuzz target (a tiny synthetic model as GGUF, APR and
// safetensors; config and tokenizer JSON; a small plan) into OUT/<target>/, so that fuzzing starts
// from files that reach deep into each parser.
#include <filesystem>
#include <string>

#include "../unit/frontend_apr_test_writer.h"
#include "../unit/frontend_test_writers.h"
#include "aprc/apr.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"

namespace aprc {

// A plan of two weights and a cpu target whose prefill runs one fused Linear step (a norm prologue
// and a residual epilogue), with placeholder code: what Plan::open reads and checks.
void write_plan_seed(const std::string& path, const ModelConfig& config) {
  PlanWriter writer(path);
  PlanWeight norm{"norm.weight", "model.norm.weight", DType::F32, WeightLayout::RowMajor,
                  ScaleGranularity::PerChannel, {config.hidden_size}, 0, 0};
  PlanWeight down{"layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight", DType::Q8_0,
                  WeightLayout::RowMajor, ScaleGranularity::PerChannel, {config.hidden_size, config.hidden_size}, 0, 0};
  writer.add_weight(norm, std::vector<uint8_t>(static_cast<size_t>(4 * config.hidden_size), 1));
  writer.add_weight(down, std::vector<uint8_t>(*layout_bytes(WeightLayout::RowMajor, DType::Q8_0, config.hidden_size,
                                                             config.hidden_size), 2));
  Step step;
  step.kernel = "linear_norm_residual";
  step.spec.kind = KernelKind::Linear;
  step.spec.weights = {WeightDesc{DType::Q8_0, WeightLayout::RowMajor, ScaleGranularity::PerChannel,
                                  config.hidden_size, config.hidden_size}};
  step.spec.has_norm = true;
  step.spec.norm = WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, config.hidden_size};
  step.spec.epilogue = Epilogue::Residual;
  step.args = {Arg{ArgKind::Arena, 0, Expr::lit(0)}, Arg{ArgKind::Weight, 0, Expr::lit(0)},
               Arg{ArgKind::Weight, 1, Expr::lit(0)}, Arg{ArgKind::Arena, 0, Expr::tokens(4 * config.hidden_size)}};
  step.scalars = {Expr::tokens(), Expr{0, 1, 0}};
  step.extent = Expr::lit(config.hidden_size);
  step.outputs = {OutputName{"layers.0.mlp_residual", 3, 0, config.hidden_size, config.hidden_size, Expr::tokens()}};
  PlanTarget cpu;
  cpu.name = "cpu";
  cpu.triple = "x86_64-unknown-linux-gnu";
  cpu.functions = {Function{"prefill", 4, 8 * 4 * config.hidden_size, {step}}};
  PlanManifest m;
  m.producer = "make_fuzz_seeds";
  m.source = "tiny.gguf";
  m.config = config;
  m.kv_cache = KvCacheGeometry{config.num_layers, config.num_kv_heads, config.head_dim, DType::F32, 16};
  m.targets = {cpu};
  writer.add_section(std::string(plan_section::kCpuObject), std::vector<uint8_t>(64, 0x7f));
  writer.finish(m);
}

void write_seeds(const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  for (const char* d : {"gguf", "apr", "safetensors", "config_json", "plan"}) fs::create_directories(out / d);

  const ModelConfig c = testing::small_config();
  for (DType d : {DType::F32, DType::Q8_0}) {
    const Model m = testing::tiny_model(c, d);
    testing::write_bytes((out / "gguf" / (std::string("tiny-") + dtype_name(d) + ".gguf")).string(),
                         testing::model_gguf_bytes(m));
    write_apr(m, (out / "apr" / (std::string("tiny-") + dtype_name(d) + ".apr")).string());
  }
  const Model m = testing::tiny_model(c, DType::F32);
  std::vector<testing::StTensorOut> st;
  for (const auto& [name, t] : m.tensors) st.push_back({name, "F32", t.shape, {t.bytes.begin(), t.bytes.end()}});
  testing::write_bytes((out / "safetensors" / "tiny.safetensors").string(), testing::safetensors_bytes(st));
  testing::write_text((out / "config_json" / "apr-metadata.json").string(), testing::apr_config_json(c));
  testing::write_text((out / "config_json" / "hf-config.json").string(), R"({"architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2", "dtype": "bfloat16", "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096, "rms_norm_eps": 1e-06,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "rope_scaling": null,
    "tie_word_embeddings": true, "vocab_size": 151936, "head_dim": 16})");
  testing::write_text((out / "config_json" / "tokenizer.json").string(), R"({"added_tokens": [
    {"id": 5, "content": "<|end|>", "special": true}, {"id": 6, "content": "<t>", "special": false}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}},
    {"type": "ByteLevel"}]}, "decoder": {"type": "ByteLevel"}, "eos_token": "<|end|>", "bos_token": {"content": "a"},
    "chat_template": [{"name": "default", "template": "x"}], "add_bos_token": false,
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3}, "merges": ["a b", ["ab", "c"]]}})");
  write_plan_seed((out / "plan" / "tiny.plan").string(), c);
}

}  // namespace aprc

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUT\n");
    return 2;
  }
  aprc::write_seeds(argv[1]);
  return 0;
}
