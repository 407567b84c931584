// Writes small valid inputs for every fuzz target (a tiny synthetic model as GGUF, APR and
// safetensors; config and tokenizer JSON) into OUT/<target>/, so that fuzzing starts from files
// that reach deep into each parser.
#include <filesystem>
#include <string>

#include "../unit/frontend_apr_test_writer.h"
#include "../unit/frontend_test_writers.h"
#include "aprc/apr.h"

namespace aprc {

void write_seeds(const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  for (const char* d : {"gguf", "apr", "safetensors", "config_json"}) fs::create_directories(out / d);

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
