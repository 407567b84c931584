// GGUF split sets: the fixture cut into NAME-0000i-of-00003.gguf parts (the metadata in the first,
// the tensors spread over all three) loads from any one of the names, as the same model.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "aprc/gguf.h"
#include "aprc/model.h"
#include "frontend_test_expect.h"
#include "frontend_test_util.h"
#include "frontend_test_writers.h"

namespace aprc {
namespace {

using testing::fails_with;

std::string part_name(const testing::ScratchDir& dir, int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.gguf", i, n);
  return dir.file(buf);
}

// Writes the fixture as `n` parts; `edit` may change the key-values of part i before writing.
void split_fixture(const std::string& path, const testing::ScratchDir& dir, int n,
                   const std::function<void(int, std::vector<testing::GgufKV>&)>& edit = {}) {
  auto file = MappedFile::open(path);
  const GgufFile g = parse_gguf(file->bytes(), path);
  const size_t per = (g.tensors.size() + n - 1) / n;
  for (int i = 0; i < n; ++i) {
    std::vector<testing::GgufKV> kvs;
    if (i == 0)
      for (const auto& [key, v] : g.kvs) kvs.push_back(testing::kv_copy(key, v));
    kvs.push_back(testing::kv_u32("split.no", static_cast<uint32_t>(i)));
    kvs.push_back(testing::kv_u32("split.count", static_cast<uint32_t>(n)));
    kvs.push_back(testing::kv_u32("split.tensors.count", static_cast<uint32_t>(g.tensors.size())));
    if (edit) edit(i, kvs);
    std::vector<testing::GgufTensorOut> out;
    for (size_t k = i * per; k < std::min(g.tensors.size(), (i + 1) * per); ++k) {
      const GgufTensorInfo& t = g.tensors[k];
      out.push_back({t.name, t.ggml_type, t.ne, {t.data.begin(), t.data.end()}});
    }
    testing::write_bytes(part_name(dir, i + 1, n), testing::gguf_bytes(kvs, out));
  }
}

TEST(GgufSplit, LoadsTheSetFromAnyOfItsNames) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  testing::ScratchDir dir;
  split_fixture(path, dir, 3);
  const Model whole = load_model(path);
  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE(i);
    const Model m = load_model(part_name(dir, i, 3));
    testing::expect_same_model(whole, m);
    // Tensors point into the part that holds them.
    EXPECT_NE(m.tensor("model.embed_tokens.weight").file_path(), m.tensor("model.norm.weight").file_path());
  }
}

TEST(GgufSplit, BadSetsAreNamed) {
  APRC_FIXTURE_OR_SKIP(path, "qwen2-tiny-q4km.gguf");
  {
    testing::ScratchDir dir;
    split_fixture(path, dir, 3);
    std::remove(part_name(dir, 3, 3).c_str());
    EXPECT_TRUE(fails_with([&] { load_model(part_name(dir, 1, 3)); }, {"model-00003-of-00003.gguf: cannot open"}));
  }
  {
    testing::ScratchDir dir;
    split_fixture(path, dir, 2, [](int i, auto& kvs) {
      if (i == 1)
        for (auto& kv : kvs)
          if (kv.key == "split.no") kv = testing::kv_u32("split.no", 0);
    });
    EXPECT_TRUE(fails_with([&] { load_model(part_name(dir, 1, 2)); },
                           {"model-00002-of-00002.gguf: key 'split.no': is 0, but the name says part 2"}));
  }
  {
    testing::ScratchDir dir;
    split_fixture(path, dir, 2, [](int i, auto& kvs) {
      if (i == 0)
        for (auto& kv : kvs)
          if (kv.key == "split.tensors.count") kv = testing::kv_u32("split.tensors.count", 49);
    });
    EXPECT_TRUE(fails_with([&] { load_model(part_name(dir, 2, 2)); }, {"key 'split.tensors.count': is 49"}));
  }
  {
    // One part of a set under a plain name.
    testing::ScratchDir dir;
    split_fixture(path, dir, 2);
    std::rename(part_name(dir, 1, 2).c_str(), dir.file("model.gguf").c_str());
    EXPECT_TRUE(fails_with([&] { load_model(dir.file("model.gguf")); }, {"model.gguf: key 'split.count'"}));
  }
}

}  // namespace
}  // namespace aprc
