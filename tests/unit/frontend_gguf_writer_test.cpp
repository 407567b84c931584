// aprc's GGUF writer and the quantization schemes (quant_scheme.h), in GGUF and APR: written files
// read back with the config, names, shapes and tokenizer written, tensors either byte-identical
// (kept) or within their format's error bound of the source values (quantized), and each tensor in
// the format llama.cpp's llama-quantize gives it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "aprc/apr.h"
#include "aprc/gguf.h"
#include "aprc/gguf_writer.h"
#include "aprc/model.h"
#include "aprc/quant_scheme.h"
#include "aprc/tokenizer.h"
#include "frontend_test_expect.h"
#include "frontend_test_util.h"
#include "frontend_test_writers.h"

namespace aprc {
namespace {

ModelConfig eight_layers() {
  ModelConfig c = testing::tiny_config();
  c.num_layers = 8;
  return c;
}

// Largest error of one element of a block quantized to `d`, from the block's values alone: half a
// quantization step with the scale's own rounding, taken twice over for safety.
double block_bound(DType d, const float* x, int n) {
  float lo = 0, hi = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    amax = std::max(amax, std::fabs(x[i]));
  }
  switch (d) {
    case DType::Q4_K: return (hi - lo) / 15.0;
    case DType::Q6_K: return 2 * amax / 63.0;
    case DType::Q8_0: return amax / 127.0;
    case DType::Q5_0: return 2 * amax / 31.0;
    case DType::F16: return amax * 1e-3;
    default: return 0;
  }
}

// The written tensor's values against the source's, block by block.
void expect_within_bound(const TensorRef& source, const TensorRef& written) {
  const std::vector<float> x = dequantize(source.view()), y = dequantize(written.view());
  ASSERT_EQ(x.size(), y.size());
  const int block = std::max(32, format_info(written.dtype).block_weights);
  double worst = 0;
  for (size_t b = 0; b < x.size(); b += block) {
    const int n = static_cast<int>(std::min<size_t>(block, x.size() - b));
    const double bound = block_bound(written.dtype, x.data() + b, n) + 1e-7;
    for (int i = 0; i < n; ++i) {
      ASSERT_FALSE(std::isnan(y[b + i]));
      worst = std::max(worst, std::fabs(y[b + i] - x[b + i]) / bound);
    }
  }
  EXPECT_LE(worst, 1.0) << source.name << " as " << dtype_name(written.dtype);
}

TEST(QuantScheme, Q4KMTypesFollowLlamaCpp) {
  const ModelConfig c = eight_layers();
  // use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2 -> layers 0, 3, 6, 7.
  const std::set<int> more = {0, 3, 6, 7};
  const std::vector<int64_t> m{128, 256}, v{256};
  for (int l = 0; l < 8; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const DType wide = more.count(l) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "self_attn.v_proj.weight", m, DType::BF16), wide) << l;
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "mlp.down_proj.weight", m, DType::BF16), wide) << l;
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "self_attn.q_proj.weight", m, DType::BF16), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "mlp.up_proj.weight", m, DType::BF16), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "self_attn.q_proj.bias", v, DType::BF16), DType::F32);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, p + "input_layernorm.weight", v, DType::BF16), DType::F32);
  }
  // The tied embedding is the output projection: Q6_K; untied, the embedding is Q4_K.
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, "model.embed_tokens.weight", m, DType::BF16), DType::Q6_K);
  ModelConfig untied = c;
  untied.tied_embeddings = false;
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, untied, "model.embed_tokens.weight", m, DType::BF16), DType::Q4_K);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, untied, "lm_head.weight", m, DType::BF16), DType::Q6_K);
  // Rows that are not whole 256-weight blocks: llama.cpp's fallbacks.
  const std::vector<int64_t> odd{64, 96};
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, "model.layers.1.mlp.up_proj.weight", odd, DType::BF16), DType::Q5_0);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, "model.layers.0.mlp.down_proj.weight", odd, DType::BF16), DType::Q8_0);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, c, "model.embed_tokens.weight", odd, DType::BF16), DType::Q8_0);
  const std::vector<int64_t> odder{64, 40};
  EXPECT_EQ(quant_type(QuantScheme::Q8_0, c, "model.layers.1.mlp.up_proj.weight", odder, DType::BF16), DType::F16);
  EXPECT_EQ(quant_type(QuantScheme::F16, c, "model.layers.1.mlp.up_proj.weight", m, DType::Q4_K), DType::F16);
  EXPECT_EQ(quant_type(QuantScheme::Keep, c, "model.layers.1.mlp.up_proj.weight", m, DType::Q4_K), DType::Q4_K);
  EXPECT_EQ(quant_scheme_from_name("q4_k_m"), QuantScheme::Q4_K_M);
  EXPECT_FALSE(quant_scheme_from_name("q4_k_s").has_value());
}

// --embedding-type / --output-type (llama-quantize's --token-embedding-type / --output-tensor-type).
TEST(QuantScheme, OverridesReplaceTheEmbeddingAndOutputFormats) {
  const ModelConfig tied = eight_layers();
  ModelConfig untied = tied;
  untied.tied_embeddings = false;
  const std::vector<int64_t> m{128, 256}, odd{64, 96}, vec{256};
  const std::string q = "model.layers.2.self_attn.q_proj.weight", v = "model.layers.0.self_attn.v_proj.weight";
  // Tied: either override is the embedding's (and its APR copy's) format; nothing else moves.
  for (const QuantOverrides o : {QuantOverrides{DType::Q4_K, std::nullopt}, QuantOverrides{std::nullopt, DType::Q4_K}}) {
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, "model.embed_tokens.weight", m, DType::BF16, o), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, "lm_head.weight", m, DType::BF16, o), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, v, m, DType::BF16, o), DType::Q6_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, q, m, DType::BF16, o), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Keep, tied, "model.embed_tokens.weight", m, DType::BF16, o), DType::Q4_K);
    EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, "model.norm.weight", vec, DType::BF16, o), DType::F32);
  }
  // Untied: each override its own tensor.
  const QuantOverrides both{DType::Q8_0, DType::Q5_K};
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, untied, "model.embed_tokens.weight", m, DType::BF16, both), DType::Q8_0);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, untied, "lm_head.weight", m, DType::BF16, both), DType::Q5_K);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, untied, "lm_head.weight", m, DType::BF16, {DType::Q8_0, std::nullopt}),
            DType::Q6_K);
  // Rows that are not whole 256-weight blocks fall back as the scheme's choices do.
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, "model.embed_tokens.weight", odd, DType::BF16, {DType::Q4_K, {}}),
            DType::Q5_0);
  EXPECT_EQ(quant_type(QuantScheme::Q4_K_M, tied, "model.embed_tokens.weight", odd, DType::BF16, {DType::Q5_K, {}}),
            DType::Q5_0);
  // A tied model takes one of the two; formats aprc does not write whole tensors into are refused.
  EXPECT_NO_THROW(check_quant_overrides(both, untied, "x.gguf"));
  EXPECT_TRUE(testing::fails_with([&] { check_quant_overrides(both, tied, "x.gguf"); }, {"x.gguf", "tied"}));
  EXPECT_TRUE(testing::fails_with([&] { check_quant_overrides({DType::AprQ8, {}}, untied, "x.gguf"); },
                                  {"x.gguf", "aprq8"}));
}

TEST(GgufWriter, KeptModelReadsBackTheSame) {
  testing::ScratchDir dir;
  for (DType d : {DType::F32, DType::Q4_K, DType::Q8_0}) {
    SCOPED_TRACE(dtype_name(d));
    const Model m = testing::tiny_model(testing::tiny_config(), d, 3);
    write_gguf(m, dir.file("m.gguf"));
    const Model back = load_model(dir.file("m.gguf"));
    EXPECT_EQ(back.format, "gguf");
    Model expected = m;
    // GGUF stores floats as f32.
    expected.config.rope_theta = static_cast<float>(m.config.rope_theta);
    expected.config.rms_norm_eps = static_cast<float>(m.config.rms_norm_eps);
    testing::expect_same_model(expected, back);
  }
}

TEST(GgufWriter, FileLayoutAsLlamaCppWritesIt) {
  testing::ScratchDir dir;
  ModelConfig c = testing::tiny_config();
  c.tied_embeddings = false;
  const Model m = testing::tiny_model(c, DType::F32, 5);
  GgufWriteOptions options;
  options.quant = QuantScheme::Q4_K_M;
  options.name = "tiny";
  write_gguf(m, dir.file("m.gguf"), options);
  const auto bytes = testing::read_bytes(dir.file("m.gguf"));
  const GgufFile g = parse_gguf(bytes, dir.file("m.gguf"));
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.alignment, 32u);
  EXPECT_EQ(g.get_uint("general.alignment"), 32u);
  EXPECT_EQ(g.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(g.get_string("general.name"), "tiny");
  EXPECT_EQ(g.get_uint("general.file_type"), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(g.get_uint("qwen2.block_count"), 2u);
  EXPECT_EQ(g.get_uint("qwen2.embedding_length"), 256u);
  EXPECT_EQ(g.get_uint("qwen2.feed_forward_length"), 512u);
  EXPECT_EQ(g.get_uint("qwen2.attention.head_count"), 4u);
  EXPECT_EQ(g.get_uint("qwen2.attention.head_count_kv"), 2u);
  EXPECT_EQ(g.get_uint("qwen2.context_length"), 2048u);
  EXPECT_FLOAT_EQ(static_cast<float>(g.get_float("qwen2.rope.freq_base")), 1e6f);
  EXPECT_FLOAT_EQ(static_cast<float>(g.get_float("qwen2.attention.layer_norm_rms_epsilon")), 1e-6f);
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(g.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(g.get_uint("tokenizer.ggml.eos_token_id"), static_cast<uint64_t>(m.tokenizer.eos_id));
  EXPECT_EQ(g.get_string("tokenizer.chat_template"), m.tokenizer.chat_template);
  // The embedding first, the blocks in order, then output_norm and output; data 32-aligned.
  ASSERT_EQ(g.tensors.size(), m.tensors.size());
  EXPECT_EQ(g.tensors.front().name, "token_embd.weight");
  EXPECT_EQ(g.tensors[g.tensors.size() - 2].name, "output_norm.weight");
  EXPECT_EQ(g.tensors.back().name, "output.weight");
  EXPECT_EQ(g.data_offset % 32, 0u);
  std::map<std::string, uint32_t> types;
  for (const GgufTensorInfo& t : g.tensors) {
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    types[t.name] = t.ggml_type;
  }
  for (const auto& [name, t] : m.tensors) EXPECT_TRUE(types.count(testing::gguf_name(name))) << name;
  EXPECT_EQ(types["token_embd.weight"], 12u);        // Q4_K (untied)
  EXPECT_EQ(types["output.weight"], 14u);            // Q6_K
  EXPECT_EQ(types["blk.0.attn_v.weight"], 12u);      // use_more_bits(0, 2) is false: 0 < 2/8 = 0 fails
  EXPECT_EQ(types["blk.0.ffn_down.weight"], 12u);
  EXPECT_EQ(types["blk.1.attn_v.weight"], 14u);      // use_more_bits(1, 2): 1 >= 7*2/8
  EXPECT_EQ(types["blk.1.ffn_down.weight"], 14u);
  EXPECT_EQ(types["blk.0.attn_q.weight"], 12u);
  EXPECT_EQ(types["blk.0.attn_q.bias"], 0u);         // F32
  EXPECT_EQ(types["blk.1.ffn_norm.weight"], 0u);
}

TEST(GgufWriter, QuantizedTensorsWithinTheirFormatsBounds) {
  testing::ScratchDir dir;
  const Model m = testing::tiny_model(eight_layers(), DType::BF16, 7);
  for (QuantScheme q : {QuantScheme::F16, QuantScheme::Q8_0, QuantScheme::Q4_K_M}) {
    SCOPED_TRACE(quant_scheme_name(q));
    GgufWriteOptions options;
    options.quant = q;
    write_gguf(m, dir.file("m.gguf"), options);
    const Model back = load_model(dir.file("m.gguf"));
    ASSERT_EQ(back.tensors.size(), m.tensors.size());
    for (const auto& [name, t] : m.tensors) {
      const TensorRef& w = back.tensor(name);
      EXPECT_EQ(w.shape, t.shape) << name;
      EXPECT_EQ(w.dtype, quant_type(q, m.config, name, t.shape, t.dtype)) << name;
      if (w.dtype == DType::F32) {
        EXPECT_EQ(dequantize(w.view()), dequantize(t.view())) << name;  // bf16 -> f32 is exact
      } else {
        expect_within_bound(t, w);
      }
    }
  }
}

TEST(GgufWriter, EmbeddingTypeOverrideIsWrittenAndReadBack) {
  testing::ScratchDir dir;
  const Model m = testing::tiny_model(eight_layers(), DType::BF16, 11);
  GgufWriteOptions options;
  options.quant = QuantScheme::Q4_K_M;
  options.overrides.embedding = DType::Q4_K;
  write_gguf(m, dir.file("m.gguf"), options);
  const Model back = load_model(dir.file("m.gguf"));
  for (const auto& [name, t] : m.tensors) {
    const TensorRef& w = back.tensor(name);
    EXPECT_EQ(w.dtype, quant_type(QuantScheme::Q4_K_M, m.config, name, t.shape, t.dtype, options.overrides)) << name;
    if (w.dtype != DType::F32) expect_within_bound(t, w);
  }
  EXPECT_EQ(back.tensor("model.embed_tokens.weight").dtype, DType::Q4_K);
}

TEST(GgufWriter, VocabularyPaddedToTheEmbeddingRows) {
  testing::ScratchDir dir;
  Model m = testing::tiny_model(testing::tiny_config(), DType::F32, 2);
  m.tokenizer.tokens.resize(290);
  m.tokenizer.token_types.resize(290);
  write_gguf(m, dir.file("m.gguf"));
  const Model back = load_model(dir.file("m.gguf"));
  ASSERT_EQ(back.tokenizer.tokens.size(), 300u);
  EXPECT_TRUE(std::equal(m.tokenizer.tokens.begin(), m.tokenizer.tokens.end(), back.tokenizer.tokens.begin()));
  EXPECT_EQ(back.tokenizer.tokens[295], "[PAD295]");
  EXPECT_EQ(back.tokenizer.token_types[295], TokenType::Unused);
  EXPECT_EQ(back.tokenizer.token_types[5], m.tokenizer.token_types[5]);
}

TEST(GgufWriter, RefusesWhatGgufCannotName) {
  testing::ScratchDir dir;
  Model m = testing::tiny_model(testing::small_config(), DType::F32, 2);
  TensorRef extra = m.tensors.begin()->second;
  extra.name = "model.layers.0.self_attn.rotary_emb.inv_freq";
  m.tensors.emplace(extra.name, extra);
  EXPECT_TRUE(testing::fails_with([&] { write_gguf(m, dir.file("m.gguf")); }, {"rotary_emb.inv_freq", "no GGUF name"}));
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf.tmp")));
}

TEST(AprWriter, Q4KMAsInGguf) {
  testing::ScratchDir dir;
  const Model m = testing::tiny_model(eight_layers(), DType::F32, 9);
  AprWriteOptions options;
  options.quant = QuantScheme::Q4_K_M;
  write_apr(m, dir.file("m.apr"), options);
  const Model back = load_model(dir.file("m.apr"));
  EXPECT_TRUE(back.config.tied_embeddings);
  for (const auto& [name, t] : m.tensors) {
    const TensorRef& w = back.tensor(name);
    EXPECT_EQ(w.dtype, quant_type(QuantScheme::Q4_K_M, m.config, name, t.shape, t.dtype)) << name;
    if (w.dtype != DType::F32) expect_within_bound(t, w);
  }
  // Without the tied copy: one tensor fewer in the file, and still tied.
  options.tied_copy = false;
  write_apr(m, dir.file("n.apr"), options);
  const Model small = load_model(dir.file("n.apr"));
  EXPECT_TRUE(small.config.tied_embeddings);
  EXPECT_EQ(small.tensors.size(), back.tensors.size());
  EXPECT_LT(std::filesystem::file_size(dir.file("n.apr")), std::filesystem::file_size(dir.file("m.apr")));
}

TEST(GgufWriter, FixtureGgufRoundTripsByteForByte) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  testing::ScratchDir dir;
  const Model m = load_model(path);
  write_gguf(m, dir.file("m.gguf"));
  testing::expect_same_model(m, load_model(dir.file("m.gguf")));
}

TEST(GgufWriter, HfFolderTokenizerRoundTrips) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-hf-tiny");
  testing::ScratchDir dir;
  const Model m = load_model(path);
  GgufWriteOptions options;
  options.quant = QuantScheme::Q8_0;
  write_gguf(m, dir.file("m.gguf"), options);
  const Model back = load_model(dir.file("m.gguf"));
  EXPECT_EQ(back.tokenizer.merges, m.tokenizer.merges);
  EXPECT_EQ(back.tokenizer.eos_id, m.tokenizer.eos_id);
  EXPECT_EQ(back.tokenizer.chat_template, m.tokenizer.chat_template);
  ASSERT_EQ(back.tokenizer.tokens.size(), static_cast<size_t>(m.config.vocab_size));
  EXPECT_TRUE(std::equal(m.tokenizer.tokens.begin(), m.tokenizer.tokens.end(), back.tokenizer.tokens.begin()));
  const Tokenizer a(m.tokenizer, path), b(back.tokenizer, dir.file("m.gguf"));
  for (const char* text : {"def fibonacci(n):\n    if n < 2:\n        return n\n", "Hello, wörld! 12345 <|im_start|>user",
                           "  \t\n naïve café — 日本語のテキスト", "<|endoftext|>import os"}) {
    EXPECT_EQ(a.encode(text), b.encode(text)) << text;
    EXPECT_EQ(b.decode(b.encode(text)), text);
  }
}

}  // namespace
}  // namespace aprc
