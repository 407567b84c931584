#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "../../frontend/readers.h"
#include "aprc/apr.h"
#include "aprc/crc32.h"
#include "aprc/model.h"
#include "frontend_apr_test_writer.h"
#include "frontend_test_expect.h"
#include "frontend_test_util.h"
#include "frontend_test_writers.h"

namespace aprc {
namespace {

using testing::fails_with;

TEST(Apr, FixtureGgufRoundTripsThroughApr) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  testing::ScratchDir dir;
  const Model gguf = load_model(path);
  write_apr(gguf, dir.file("m.apr"));
  const Model apr = load_model(dir.file("m.apr"));
  EXPECT_EQ(apr.format, "apr");
  testing::expect_same_model(gguf, apr);  // Q4_K/Q6_K/F32 bytes identical

  // The file itself, read by hand: header fields, alignment, the CRCs, and the embedding copy as
  // lm_head (APR readers expect it).
  const auto f = testing::read_bytes(dir.file("m.apr"));
  EXPECT_EQ(std::memcmp(f.data(), "APR\0", 4), 0);
  EXPECT_EQ(f[4], 2);
  EXPECT_EQ(f[5], 0);
  uint16_t flags;
  uint64_t meta_offset, index_offset, data_offset;
  uint32_t count, header_crc, footer_crc;
  std::memcpy(&flags, f.data() + 6, 2);
  std::memcpy(&count, f.data() + 8, 4);
  std::memcpy(&meta_offset, f.data() + 12, 8);
  std::memcpy(&index_offset, f.data() + 24, 8);
  std::memcpy(&data_offset, f.data() + 32, 8);
  std::memcpy(&header_crc, f.data() + 40, 4);
  std::memcpy(&footer_crc, f.data() + f.size() - 4, 4);
  EXPECT_TRUE(flags & 0x0400);  // row-major
  EXPECT_TRUE(flags & 0x0200);  // has vocab
  EXPECT_EQ(count, 51u);        // 50 + lm_head
  EXPECT_EQ(meta_offset, 64u);
  EXPECT_EQ(index_offset % 64, 0u);
  EXPECT_EQ(data_offset % 64, 0u);
  EXPECT_EQ(header_crc, crc32_update(crc32(f.data(), 40), f.data() + 44, 20));
  EXPECT_EQ(footer_crc, crc32(f.data(), f.size() - 4));
  const std::string index(f.begin() + index_offset, f.begin() + data_offset);
  EXPECT_NE(index.find("lm_head.weight"), std::string::npos);
  EXPECT_NE(index.find("model.layers.3.mlp.down_proj.weight"), std::string::npos);
}

TEST(Apr, LoadsWithoutTheVocabularyStrings) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  testing::ScratchDir dir;
  const Model gguf = load_model(path);
  write_apr(gguf, dir.file("m.apr"));
  const Model counted = load_model(dir.file("m.apr"), LoadOptions{.vocabulary = false});
  EXPECT_TRUE(counted.tokenizer.tokens.empty());
  EXPECT_TRUE(counted.tokenizer.merges.empty());
  EXPECT_EQ(counted.tokenizer_tokens, static_cast<int64_t>(gguf.tokenizer.tokens.size()));
  EXPECT_EQ(counted.tokenizer_merges, static_cast<int64_t>(gguf.tokenizer.merges.size()));
  EXPECT_EQ(counted.tokenizer.eos_id, gguf.tokenizer.eos_id);
  EXPECT_TRUE(counted.config == gguf.config);
}

TEST(Apr, TypesAprCannotHoldBecomeF16OrF32) {
  testing::ScratchDir dir;
  for (DType src : {DType::Q8_0, DType::Q5_0, DType::Q5_K}) {
    SCOPED_TRACE(dtype_name(src));
    const Model m = testing::tiny_model(testing::tiny_config(), src);
    for (DType to : {DType::F16, DType::F32}) {
      AprWriteOptions options;
      options.convert_to = to;
      write_apr(m, dir.file("c.apr"), options);
      const Model back = load_model(dir.file("c.apr"));
      EXPECT_EQ(back.config, m.config);
      for (const auto& [name, t] : m.tensors) {
        const TensorRef& b = back.tensor(name);
        ASSERT_EQ(b.shape, t.shape);
        const auto want = dequantize(t.view());
        const auto got = dequantize(b.view());
        if (t.dtype == src) {
          ASSERT_EQ(b.dtype, to) << name;
          for (size_t i = 0; i < want.size(); ++i) {
            const float expect = to == DType::F16 ? f16_to_f32(f32_to_f16(want[i])) : want[i];
            ASSERT_EQ(got[i], expect) << name << " element " << i;
          }
        } else {
          ASSERT_EQ(b.dtype, t.dtype);
          ASSERT_EQ(std::memcmp(b.bytes.data(), t.bytes.data(), t.bytes.size()), 0);
        }
      }
    }
  }
}

TEST(Apr, UntiedModelsKeepTheirOutputProjection) {
  testing::ScratchDir dir;
  ModelConfig c = testing::tiny_config();
  c.tied_embeddings = false;
  const Model m = testing::tiny_model(c, DType::Q4_K);
  write_apr(m, dir.file("u.apr"));
  const Model back = load_model(dir.file("u.apr"));
  EXPECT_FALSE(back.config.tied_embeddings);
  testing::expect_same_model(m, back);
  EXPECT_EQ(&back.output_weight(), &back.tensor("lm_head.weight"));
}

// Files from other writers: the older APR2 magic, GGUF tensor names, no tie key (tied by identical
// bytes), special tokens named only by text.
TEST(Apr, ReadsOtherWritersSpellings) {
  const Model m = testing::tiny_model(testing::tiny_config(), DType::Q6_K);
  auto entries = testing::apr_entries(m);
  // lm_head as a copy of the embedding, and GGUF names for one layer.
  for (auto& e : entries) {
    if (e.name == "model.layers.1.mlp.up_proj.weight") e.name = "blk.1.ffn_up.weight";
    if (e.name == "model.embed_tokens.weight") {
      auto copy = e;
      copy.name = "lm_head.weight";
      entries.push_back(copy);
    }
  }
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::string meta = testing::apr_config_json(m.config);
  meta.pop_back();
  meta += R"(,"tokenizer.vocabulary":["a","b","<|end|>"],"tokenizer.merges":["a b"],"special_tokens":{"eos_token":"<|end|>"}})";
  auto f = testing::apr_bytes(meta, entries);
  std::memcpy(f.data(), "APR2", 4);
  testing::fix_apr_crcs(f);
  const Model back = apr_from_bytes(f, nullptr, "other.apr");
  EXPECT_TRUE(back.config.tied_embeddings);
  EXPECT_EQ(back.find("lm_head.weight"), nullptr);
  EXPECT_EQ(back.tensor("model.layers.1.mlp.up_proj.weight").source_name, "blk.1.ffn_up.weight");
  EXPECT_EQ(back.tokenizer.eos_id, 2);
  EXPECT_EQ(back.tokenizer.merges, std::vector<std::string>{"a b"});
}

TEST(Apr, RefusesOtherFormatsWithAClearMessage) {
  APRC_FIXTURE_OR_SKIP(aprn, "aprn-v1-mnist.apr");
  EXPECT_TRUE(fails_with([&] { load_model(aprn); }, {"aprn-v1-mnist.apr: ", "APRN", "APR v1", "not an APR v2"}));
  const Model m = testing::tiny_model(testing::tiny_config(), DType::F32);
  const auto good = testing::apr_bytes(testing::apr_config_json(m.config), testing::apr_entries(m));
  ASSERT_NO_THROW(apr_from_bytes(good, nullptr, "x.apr"));
  struct Case {
    std::function<void(std::vector<uint8_t>&)> edit;
    std::vector<std::string> message;
  };
  auto set16 = [](std::vector<uint8_t>& f, size_t at, uint16_t v) { std::memcpy(f.data() + at, &v, 2); };
  const std::vector<Case> cases = {
      {[](auto& f) { std::memcpy(f.data(), "APR1", 4); }, {"APR1", "not APR v2"}},
      {[](auto& f) { std::memcpy(f.data(), "XPR\0", 4); }, {"not an APR v2 file"}},
      {[](auto& f) { f[4] = 3; }, {"unsupported APR version 3.0"}},
      {[&](auto& f) { set16(f, 6, 0x0401); }, {"compressed (LZ4)"}},
      {[&](auto& f) { set16(f, 6, 0x0402); }, {"compressed (ZSTD)"}},
      {[&](auto& f) { set16(f, 6, 0x0404); }, {"encrypted"}},
      {[&](auto& f) { set16(f, 6, 0x0800); }, {"column-major"}},
      {[&](auto& f) { set16(f, 6, 0x0410); }, {"sharded"}},
  };
  for (const Case& c : cases) {
    auto f = good;
    c.edit(f);
    testing::fix_apr_crcs(f);
    EXPECT_TRUE(fails_with([&] { apr_from_bytes(f, nullptr, "x.apr"); }, c.message));
  }
  // Without fixing the CRCs, a flipped byte anywhere is caught.
  auto f = good;
  f[30] ^= 1;
  EXPECT_TRUE(fails_with([&] { apr_from_bytes(f, nullptr, "x.apr"); }, {"x.apr: header CRC mismatch"}));
  f = good;
  f[f.size() / 2] ^= 0x40;
  EXPECT_TRUE(fails_with([&] { apr_from_bytes(f, nullptr, "x.apr"); }, {"x.apr: footer CRC mismatch"}));
}

TEST(Apr, RefusesBadIndexes) {
  const Model m = testing::tiny_model(testing::tiny_config(), DType::F32);
  const std::string meta = testing::apr_config_json(m.config);
  auto base = testing::apr_entries(m);
  auto with = [&](const std::function<void(std::vector<testing::AprEntryOut>&)>& edit) {
    auto e = base;
    edit(e);
    return testing::apr_bytes(meta, e);
  };
  auto expect = [](const std::vector<uint8_t>& f, std::vector<std::string> message) {
    EXPECT_TRUE(fails_with([&] { apr_from_bytes(f, nullptr, "bad.apr"); }, message));
  };
  expect(with([](auto& e) { std::swap(e[0], e[1]); }), {"bad.apr: ", "not sorted by name"});
  expect(with([](auto& e) { e[3].dtype = 77; }), {"tensor '" + base[3].name + "'", "unknown dtype 77"});
  expect(with([](auto& e) { e[2].offset = 0; }), {"overlaps"});
  expect(with([](auto& e) { e[2].offset = 100; }), {"not a multiple of 64"});
  expect(with([](auto& e) { e[1].dims[0] += 1; }), {"tensor '" + base[1].name + "'", "size"});
  expect(with([](auto& e) { e[1].dims = {1, 2, 3, 4, 5, 6, 7, 8, 9}; }), {"9 dimensions"});
  expect(with([](auto& e) { e[1].name = std::string(300, 'x'); }), {"name length 300"});
  expect(with([](auto& e) { e.erase(e.begin()); }), {"bad.apr: missing tensor 'model.embed_tokens.weight'"});
  expect(testing::apr_bytes("{\"architecture\": \"qwen2\"", base), {"invalid JSON"});
  expect(testing::apr_bytes("{\"architecture\": \"qwen2\"}", base), {"key 'hidden_size': missing"});
}

}  // namespace
}  // namespace aprc
