// Bad input never crashes: copies of the fixtures (and of small synthetic files) truncated at many
// points, with flipped bytes and with edited counts, dims, offsets and types all give one BadInput
// naming the file and what is wrong. This file also runs under ASan and UBSan (scripts/fuzz-smoke.sh).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "../../frontend/readers.h"
#include "aprc/apr.h"
#include "aprc/gguf.h"
#include "aprc/model.h"
#include "frontend_apr_test_writer.h"
#include "frontend_test_expect.h"
#include "frontend_test_util.h"
#include "frontend_test_writers.h"

namespace aprc {
namespace {

using testing::fails_with;

const LoadOptions kNoVocab{.vocabulary = false};

Model load_gguf_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  return gguf_to_model({parse_gguf(bytes, name)}, {nullptr}, name, kNoVocab);
}

// Loads or refuses with BadInput; anything else (another exception, a crash) fails the test.
::testing::AssertionResult loads_or_refuses(const std::function<void()>& f) {
  try {
    f();
    return ::testing::AssertionSuccess();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadInput && std::string(e.what()).find('\n') == std::string::npos)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "not a one-line BadInput: " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "unexpected exception: " << e.what();
  }
}

// Where the fields of a GGUF file are, found by walking it independently of the reader.
struct GgufLayout {
  struct Kv {
    std::string key;
    size_t key_at, type_at, value_at;
  };
  struct Tensor {
    std::string name;
    size_t ndims_at, ne_at, type_at, offset_at;
  };
  std::vector<Kv> kvs;
  std::vector<Tensor> tensors;
  size_t infos_end = 0;

  const Kv& kv(const std::string& k) const {
    for (const Kv& x : kvs)
      if (x.key == k) return x;
    throw std::runtime_error("no key " + k);
  }
  const Tensor& tensor(const std::string& n) const {
    for (const Tensor& x : tensors)
      if (x.name == n) return x;
    throw std::runtime_error("no tensor " + n);
  }
};

GgufLayout gguf_layout(const std::vector<uint8_t>& f) {
  auto u32 = [&](size_t at) { uint32_t v; std::memcpy(&v, f.data() + at, 4); return v; };
  auto u64 = [&](size_t at) { uint64_t v; std::memcpy(&v, f.data() + at, 8); return v; };
  const size_t scalar[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  GgufLayout l;
  size_t p = 24;
  std::function<void(uint32_t)> skip = [&](uint32_t type) {
    if (type == 8) {
      p += 8 + u64(p);
    } else if (type == 9) {
      const uint32_t et = u32(p);
      const uint64_t n = u64(p + 4);
      p += 12;
      for (uint64_t i = 0; i < n; ++i) skip(et);
    } else {
      p += scalar[type];
    }
  };
  for (uint64_t k = 0; k < u64(16); ++k) {
    GgufLayout::Kv kv;
    kv.key_at = p;
    kv.key = std::string(reinterpret_cast<const char*>(f.data() + p + 8), u64(p));
    p += 8 + kv.key.size();
    kv.type_at = p;
    kv.value_at = p + 4;
    p += 4;
    skip(u32(kv.type_at));
    l.kvs.push_back(kv);
  }
  for (uint64_t k = 0; k < u64(8); ++k) {
    GgufLayout::Tensor t;
    t.name = std::string(reinterpret_cast<const char*>(f.data() + p + 8), u64(p));
    p += 8 + t.name.size();
    t.ndims_at = p;
    t.ne_at = p + 4;
    p += 4 + 8 * u32(t.ndims_at);
    t.type_at = p;
    t.offset_at = p + 4;
    p += 12;
    l.tensors.push_back(t);
  }
  l.infos_end = p;
  return l;
}

template <class T>
void poke(std::vector<uint8_t>& f, size_t at, T v) {
  std::memcpy(f.data() + at, &v, sizeof v);
}

class FixtureCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = testing::fixture("qwen2-tiny-q4km.gguf");
    if (path.empty()) GTEST_SKIP() << "fixture qwen2-tiny-q4km.gguf not found (set APRC_FIXTURES)";
    bytes_ = testing::read_bytes(path);
    layout_ = gguf_layout(bytes_);
  }
  std::vector<uint8_t> bytes_;
  GgufLayout layout_;
};

TEST_F(FixtureCorruption, TruncationAnywhereIsBadInput) {
  ASSERT_NO_THROW(load_gguf_bytes(bytes_, "f.gguf"));
  std::vector<size_t> cuts;
  for (size_t n = 0; n <= 64; ++n) cuts.push_back(n);  // every byte of the header and first key
  for (const auto& kv : layout_.kvs) cuts.insert(cuts.end(), {kv.key_at + 3, kv.type_at + 2, kv.value_at + 5});
  for (const auto& t : layout_.tensors) cuts.insert(cuts.end(), {t.ndims_at + 2, t.ne_at + 4, t.offset_at + 7});
  for (int k = 1; k < 40; ++k) cuts.push_back(bytes_.size() * k / 40);  // through the data
  cuts.push_back(bytes_.size() - 1);
  for (size_t n : cuts) {
    SCOPED_TRACE(n);
    EXPECT_TRUE(fails_with([&] { load_gguf_bytes(std::span(bytes_).first(n), "cut.gguf"); }, {"cut.gguf: "}));
  }
}

// Flips in the structural bytes: the header, every key-value's name, type and value, and the tensor
// infos (the small-file tests and the fuzzers flip every byte of small files).
TEST_F(FixtureCorruption, FlippedBytesLoadOrRefuse) {
  std::mt19937 rng(3);
  std::vector<size_t> positions;
  for (size_t i = 0; i < 24; ++i) positions.push_back(i);
  for (const auto& kv : layout_.kvs)
    for (size_t i = 0; i < 8; ++i) positions.insert(positions.end(), {kv.key_at + i, kv.type_at + i % 4, kv.value_at + i});
  std::uniform_int_distribution<size_t> infos(layout_.tensors.front().ndims_at - 40, layout_.infos_end - 1);
  for (int i = 0; i < 300; ++i) positions.push_back(infos(rng));
  auto f = bytes_;
  for (size_t at : positions) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      f[at] ^= mask;
      EXPECT_TRUE(loads_or_refuses([&] { load_gguf_bytes(f, "flip.gguf"); })) << "byte " << at;
      f[at] ^= mask;
    }
  }
}

TEST_F(FixtureCorruption, EditedFieldsAreNamed) {
  struct Case {
    std::function<void(std::vector<uint8_t>&)> edit;
    std::vector<std::string> message;
  };
  const auto& L = layout_;
  const auto& q = L.tensor("blk.0.attn_q.weight");
  const auto& k = L.tensor("blk.0.attn_k.weight");
  const auto& last = L.tensors.back();
  const std::vector<Case> cases = {
      {[](auto& f) { f[0] = 'X'; }, {"e.gguf: not a GGUF file (bad magic)"}},
      {[](auto& f) { poke<uint32_t>(f, 4, 4); }, {"unsupported GGUF version 4"}},
      {[](auto& f) { poke<uint32_t>(f, 4, 0x03000000); }, {"big-endian GGUF"}},
      {[](auto& f) { poke<uint64_t>(f, 8, uint64_t{1} << 60); }, {"the tensor count 1152921504606846976 is more than the file can hold"}},
      {[](auto& f) { poke<uint64_t>(f, 16, uint64_t{1} << 40); }, {"the key-value count", "more than the file can hold"}},
      {[&](auto& f) { poke<uint64_t>(f, L.kvs[0].key_at, uint64_t{1} << 50); }, {"key-value 0 name: length 1125899906842624 (names are at most 65535 bytes)"}},
      {[&](auto& f) { poke<uint32_t>(f, L.kv("qwen2.block_count").type_at, 13); }, {"key 'qwen2.block_count': unknown value type 13"}},
      {[&](auto& f) { poke<uint64_t>(f, L.kv("tokenizer.ggml.tokens").value_at + 4, uint64_t{1} << 62); },
       {"key 'tokenizer.ggml.tokens'", "declares 4611686018427387904 elements of string"}},
      {[&](auto& f) { f[L.kv("qwen2.block_count").key_at + 8 + 15] = 'X'; }, {"key 'qwen2.block_count': missing"}},
      {[&](auto& f) { poke<uint32_t>(f, L.kv("qwen2.embedding_length").value_at, 128); },
       {"tensor 'model.embed_tokens.weight' ('token_embd.weight' in the file): shape [151936, 256] disagrees with the "
        "config: expected [151936, 128] (vocab_size, hidden_size)"}},
      {[&](auto& f) { poke<uint32_t>(f, L.kv("qwen2.attention.head_count").value_at, 8); },
       {"'blk.0.attn_k.weight' in the file): shape [128, 256] disagrees with the config: expected [64, 256] "
        "(num_kv_heads*head_dim, hidden_size)"}},
      {[&](auto& f) { poke<uint32_t>(f, q.ndims_at, 5); }, {"tensor 'blk.0.attn_q.weight': 5 dimensions (GGUF allows 1 to 4)"}},
      {[&](auto& f) { poke<uint64_t>(f, q.ne_at, 255); }, {"tensor 'blk.0.attn_q.weight': row length 255 is not a whole number of q4_k blocks"}},
      {[&](auto& f) { poke<uint64_t>(f, q.ne_at + 8, 0); }, {"tensor 'blk.0.attn_q.weight': bad dimension 1 = 0"}},
      {[&](auto& f) { poke<uint64_t>(f, q.ne_at + 8, uint64_t{1} << 62); }, {"tensor 'blk.0.attn_q.weight': bad dimension 1"}},
      {[&](auto& f) { poke<uint32_t>(f, q.type_at, 2); }, {"tensor 'blk.0.attn_q.weight': ggml type 2 (q4_0) is not supported"}},
      {[&](auto& f) { poke<uint32_t>(f, q.type_at, 200); }, {"ggml type 200 (unknown) is not supported"}},
      {[&](auto& f) { poke<uint64_t>(f, last.offset_at, uint64_t{1} << 40); }, {"tensor 'output_norm.weight': data", "runs past the end of the file"}},
      {[&](auto& f) { poke<uint64_t>(f, last.offset_at, 1); }, {"tensor 'output_norm.weight': data offset 1 is not a multiple of the alignment 32"}},
      {[&](auto& f) { std::memcpy(f.data() + k.offset_at, f.data() + q.offset_at, 8); }, {"overlaps tensor"}},
      // "blk.0.attn_q.weight" -> "blk.7.attn_q.weight"
      {[&](auto& f) { f[q.ndims_at - 15] = '7'; }, {"tensor 'model.layers.7.self_attn.q_proj.weight'", "layer 7 is beyond the config's num_layers (4)"}},
      {[&](auto& f) { f[L.tensor("blk.2.ffn_up.weight").ndims_at - 9] = 'x'; }, {"missing tensor 'model.layers.2.mlp.up_proj.weight'"}},
      {[&](auto& f) { poke<uint32_t>(f, L.kv("tokenizer.ggml.eos_token_id").value_at, 999999); },
       {"tokenizer 'eos_token_id' is 999999, outside the vocabulary"}},
  };
  for (const Case& c : cases) {
    auto f = bytes_;
    c.edit(f);
    EXPECT_TRUE(fails_with([&] { load_gguf_bytes(f, "e.gguf"); }, c.message));
  }
}

TEST_F(FixtureCorruption, AprCopiesTruncatedOrFlipped) {
  testing::ScratchDir dir;
  write_apr(load_gguf_bytes(bytes_, "f.gguf"), dir.file("f.apr"));  // without the vocabulary: quicker
  const auto apr = testing::read_bytes(dir.file("f.apr"));
  ASSERT_NO_THROW(apr_from_bytes(apr, nullptr, "f.apr", kNoVocab));
  for (size_t n : {size_t{0}, size_t{3}, size_t{4}, size_t{40}, size_t{67}, size_t{68}, size_t{1000}, apr.size() / 2,
                   apr.size() - 5, apr.size() - 1})
    EXPECT_TRUE(fails_with([&] { apr_from_bytes(std::span(apr).first(n), nullptr, "cut.apr", kNoVocab); }, {"cut.apr: "}))
        << n;
  // Flips with both CRCs fixed reach the structural checks.
  uint64_t data_offset;
  std::memcpy(&data_offset, apr.data() + 32, 8);
  std::mt19937 rng(5);
  std::uniform_int_distribution<size_t> before_data(0, data_offset - 1);
  auto f = apr;
  for (int i = 0; i < 24; ++i) {
    const size_t at = i < 12 ? static_cast<size_t>(4 + 3 * i) : before_data(rng);
    if (at >= 40 && at < 44) continue;  // the header CRC itself
    f[at] ^= 0x5a;
    testing::fix_apr_crcs(f);
    EXPECT_TRUE(loads_or_refuses([&] { apr_from_bytes(f, nullptr, "flip.apr", kNoVocab); })) << "byte " << at;
    f[at] ^= 0x5a;
  }
}

// Small synthetic files: every byte before the data is flipped (and every prefix tried), quickly.
TEST(SmallFileCorruption, GgufEveryHeaderByte) {
  ModelConfig c = testing::tiny_config();
  c.hidden_size = 256;
  c.vocab_size = 40;
  c.intermediate_size = 256;
  Model m = testing::tiny_model(c, DType::Q4_K);
  const auto good = testing::model_gguf_bytes(m);
  ASSERT_NO_THROW(load_gguf_bytes(good, "s.gguf"));
  const size_t infos_end = gguf_layout(good).infos_end;
  auto f = good;
  for (size_t at = 0; at < infos_end; ++at) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x10}, uint8_t{0xff}}) {
      f[at] ^= mask;
      EXPECT_TRUE(loads_or_refuses([&] { load_gguf_bytes(f, "s.gguf"); })) << "byte " << at;
      f[at] ^= mask;
    }
  }
  for (size_t n = 0; n < good.size(); n += (n < infos_end + 64 ? 1 : 997))
    EXPECT_TRUE(fails_with([&] { load_gguf_bytes(std::span(good).first(n), "s.gguf"); }, {"s.gguf: "})) << n;
}

TEST(SmallFileCorruption, AprAndSafetensorsEveryHeaderByte) {
  const Model m = testing::tiny_model(testing::small_config(), DType::F16);
  testing::ScratchDir dir;
  write_apr(m, dir.file("s.apr"));
  const auto apr = testing::read_bytes(dir.file("s.apr"));
  uint64_t data_offset;
  std::memcpy(&data_offset, apr.data() + 32, 8);
  auto f = apr;
  for (size_t at = 0; at < data_offset; ++at) {
    if (at >= 40 && at < 44) continue;
    f[at] ^= 0x21;
    testing::fix_apr_crcs(f);
    EXPECT_TRUE(loads_or_refuses([&] { apr_from_bytes(f, nullptr, "s.apr"); })) << "byte " << at;
    f[at] ^= 0x21;
  }
  testing::fix_apr_crcs(f);

  std::vector<testing::StTensorOut> st;
  for (const auto& [name, t] : m.tensors)
    st.push_back({name, t.dtype == DType::F16 ? "F16" : "F32", t.shape, {t.bytes.begin(), t.bytes.end()}});
  const auto s = testing::safetensors_bytes(st);
  uint64_t header;
  std::memcpy(&header, s.data(), 8);
  ASSERT_EQ(parse_safetensors(s, "m.safetensors").size(), m.tensors.size());
  auto g = s;
  for (size_t at = 0; at < 8 + header; ++at) {
    g[at] ^= 0x04;
    EXPECT_TRUE(loads_or_refuses([&] { parse_safetensors(g, "m.safetensors"); })) << "byte " << at;
    g[at] ^= 0x04;
  }
  for (size_t n = 0; n < 8 + header + 16; ++n)
    EXPECT_TRUE(loads_or_refuses([&] { parse_safetensors(std::span(s).first(n), "m.safetensors"); })) << n;
  EXPECT_TRUE(fails_with([&] { parse_safetensors(std::span(s).first(s.size() - 1), "m.safetensors"); },
                         {"m.safetensors: tensor", "run past the end of the data"}));
}

}  // namespace
}  // namespace aprc
