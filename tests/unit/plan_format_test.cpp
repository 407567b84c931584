// The plan file: what the writer writes the reader reads back exactly, and every kind of damage is
// refused with a message that says what is wrong.
#include <gtest/gtest.h>

#include <cstring>

#include "aprc/crc32.h"
#include "aprc/error.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "plan/crc32_parallel.h"
#include "plan_test_util.h"

namespace aprc {
namespace {

using test::TempDir;

PlanWeight weight(std::string name, DType dtype, std::vector<int64_t> shape) {
  PlanWeight w;
  w.name = name;
  w.source = "model." + name;
  w.dtype = dtype;
  w.shape = std::move(shape);
  return w;
}

// A step using every argument kind and expression form.
Step sample_step(const std::string& kernel) {
  Step st;
  st.kernel = kernel;
  st.spec.kind = KernelKind::Linear;
  st.spec.weights = {WeightDesc{DType::Q8_0, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 96, 64}};
  st.spec.has_norm = true;
  st.spec.norm = WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, 64};
  st.spec.epilogue = Epilogue::Residual;
  st.spec.eps = 1e-5;
  st.spec.int8_activations = true;
  st.spec.heads = 3;
  st.spec.kv_heads = 1;
  st.spec.head_dim = 16;
  st.spec.theta = 10000.5;
  st.spec.scale = 0.125f;
  st.spec.cols = 7;
  st.spec.fp8_activations = true;  // every field survives the manifest
  st.args = {Arg{ArgKind::Arena, 0, Expr::tokens(256)},
             Arg{ArgKind::Weight, 1, Expr::lit(0)},
             Arg{ArgKind::Weight, 0, Expr::lit(128)},
             Arg{ArgKind::CacheK, 1, Expr::lit(0)},
             Arg{ArgKind::CacheV, 0, Expr::lit(64)},
             Arg{ArgKind::InputIds, 0, Expr{4, 0, -4}},
             Arg{ArgKind::Logits, 0, Expr{0, 0, 0}}};
  st.scalars = {Expr::tokens(), Expr{0, 1, 0}, Expr{2, 3, -1}};
  st.extent = Expr{96, 0, 0};
  st.grain = 4;
  st.grid = {Expr{1, 0, 3}, Expr::lit(2), Expr::lit(1)};
  st.grid_divisor = {4, 1, 1};
  st.block = {128, 2, 1};
  st.shared_bytes = 1024;
  st.outputs = {OutputName{"layers.0.mlp.down_proj", 0, 0, 64, 64, Expr::tokens()}};
  return st;
}

PlanManifest sample_manifest() {
  PlanManifest m;
  m.producer = "aprc test";
  m.source = "test.gguf";
  m.config = test::small_config();
  m.tokenizer = test::small_tokenizer();
  m.kv_cache = KvCacheGeometry{2, 2, 16, DType::F32, 128};
  PlanTarget cpu;
  cpu.name = "cpu";
  cpu.triple = "x86_64-unknown-linux-gnu";
  cpu.cpu_name = "znver4";
  cpu.features = {"avx2", "fma"};
  Function f;
  f.name = "prefill";
  f.max_tokens = 8;
  f.arena_bytes = 4096;
  f.steps = {sample_step("linear_a"), sample_step("linear_a")};
  cpu.functions.push_back(f);
  f.name = "decode";
  f.max_tokens = 1;
  f.steps = {sample_step("linear_b")};
  f.steps[0].spec.eps = 1e-6;  // a different kernel
  cpu.functions.push_back(f);
  m.targets.push_back(cpu);
  PlanTarget cuda;
  cuda.name = "cuda";
  cuda.cuda_archs = {"sm_90"};
  cuda.has_ptx = true;
  cuda.kernels = {PlanKernel{"linear_a", sample_step("linear_a").spec, {{"registers", 64}}}};
  cuda.functions = {cpu.functions[0]};
  m.targets.push_back(cuda);
  m.options = {{"int8_activations", false}};
  return m;
}

struct WrittenPlan {
  PlanManifest manifest;
  std::vector<std::vector<uint8_t>> weight_bytes;
  std::vector<uint8_t> cpu_so, cubin, ptx;
};

WrittenPlan write_sample_plan(const std::string& path) {
  WrittenPlan p;
  p.manifest = sample_manifest();
  PlanWriter writer(path);
  std::vector<PlanWeight> weights = {weight("norm.weight", DType::F32, {64}),
                                     weight("layers.0.down.weight", DType::Q8_0, {96, 64}),
                                     weight("embed.weight", DType::Q4_K, {5, 256})};
  for (size_t i = 0; i < weights.size(); ++i) {
    p.weight_bytes.push_back(test::random_bytes(
        *layout_bytes(WeightLayout::RowMajor, weights[i].dtype, weights[i].rows(), weights[i].cols()),
        static_cast<uint32_t>(i + 1)));
    EXPECT_EQ(writer.add_weight(weights[i], p.weight_bytes.back()), i);
  }
  p.cpu_so = test::random_bytes(10001, 7);
  p.cubin = test::random_bytes(5000, 8);
  p.ptx = test::random_bytes(3, 9);
  writer.add_section(std::string(plan_section::kCpuObject), p.cpu_so);
  writer.add_section(std::string(plan_section::kCudaCubinPrefix) + "sm_90", p.cubin);
  writer.add_section(std::string(plan_section::kCudaPtx), p.ptx);
  writer.finish(p.manifest);
  return p;
}

// Expects opening `path` to fail as bad input with a message containing `what`.
void expect_refused(const std::string& path, const std::string& what) {
  try {
    Plan::open(path);
    ADD_FAILURE() << "opened a bad plan; expected an error about: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << "message: " << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message does not name the file: " << e.what();
  }
}

TEST(PlanFormat, RoundTripsEveryField) {
  TempDir dir;
  const std::string path = dir.file("a.plan");
  WrittenPlan written = write_sample_plan(path);
  auto plan = Plan::open(path);
  const PlanManifest& m = plan->manifest();

  EXPECT_EQ(m.format_version, kPlanFormatVersion);
  EXPECT_EQ(m.producer, "aprc test");
  EXPECT_EQ(m.source, "test.gguf");
  EXPECT_EQ(m.config, written.manifest.config);
  EXPECT_EQ(m.tokenizer.tokens, written.manifest.tokenizer.tokens);
  EXPECT_EQ(m.tokenizer.token_types, written.manifest.tokenizer.token_types);
  EXPECT_EQ(m.tokenizer.merges, written.manifest.tokenizer.merges);
  EXPECT_EQ(m.tokenizer.eos_id, 3);
  EXPECT_EQ(m.tokenizer.pre_regex, written.manifest.tokenizer.pre_regex);
  EXPECT_EQ(m.tokenizer.chat_template, written.manifest.tokenizer.chat_template);
  EXPECT_EQ(m.kv_cache, written.manifest.kv_cache);
  EXPECT_EQ(m.options, written.manifest.options);
  EXPECT_FALSE(m.synthetic.has_value());

  ASSERT_EQ(m.targets.size(), 2u);
  const PlanTarget& cpu = m.targets[0];
  EXPECT_EQ(cpu.triple, "x86_64-unknown-linux-gnu");
  EXPECT_EQ(cpu.cpu_name, "znver4");
  EXPECT_EQ(cpu.features, written.manifest.targets[0].features);
  // Every step, argument and expression, and each step's spec, restored from the kernel table.
  nlohmann::json functions_read = manifest_to_json(m)["targets"][0]["functions"];
  nlohmann::json functions_written = manifest_to_json(written.manifest)["targets"][0]["functions"];
  EXPECT_EQ(functions_read, functions_written);
  for (size_t f = 0; f < cpu.functions.size(); ++f)
    for (size_t s = 0; s < cpu.functions[f].steps.size(); ++s)
      EXPECT_EQ(cpu.functions[f].steps[s].spec, written.manifest.targets[0].functions[f].steps[s].spec);
  // The writer listed each kernel the steps name, once.
  ASSERT_EQ(cpu.kernels.size(), 2u);
  EXPECT_EQ(cpu.kernel("linear_a")->spec, sample_step("linear_a").spec);
  EXPECT_NE(cpu.kernel("linear_b")->spec, sample_step("linear_a").spec);
  const PlanTarget& cuda = m.targets[1];
  EXPECT_EQ(cuda.cuda_archs, std::vector<std::string>{"sm_90"});
  EXPECT_TRUE(cuda.has_ptx);
  ASSERT_EQ(cuda.kernels.size(), 1u);
  EXPECT_EQ(cuda.kernels[0].info["registers"], 64);

  ASSERT_EQ(m.weights.size(), 3u);
  for (size_t i = 0; i < m.weights.size(); ++i) {
    EXPECT_EQ(m.weights[i].offset % kPlanWeightAlignment, 0u);
    auto bytes = plan->weight(i);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), written.weight_bytes[i].begin(), written.weight_bytes[i].end()))
        << m.weights[i].name;
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(plan->weights().data()) % kPlanAlignment, 0u);
  for (const PlanSection& s : plan->sections()) EXPECT_EQ(s.offset % kPlanAlignment, 0u) << s.name;
  auto so = plan->section(plan_section::kCpuObject);
  ASSERT_TRUE(so);
  EXPECT_TRUE(std::equal(so->begin(), so->end(), written.cpu_so.begin(), written.cpu_so.end()));
  auto ptx = plan->section(plan_section::kCudaPtx);
  ASSERT_TRUE(ptx);
  EXPECT_EQ(ptx->size(), 3u);
  EXPECT_FALSE(plan->section("cpu.mlir"));
  EXPECT_TRUE(is_plan_file(path));
}

TEST(PlanFormat, RecognizesPlansByTheirMagic) {
  TempDir dir;
  test::write_file(dir.file("short"), {'A', 'P', 'R'});
  test::write_file(dir.file("gguf"), {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(is_plan_file(dir.file("short")));
  EXPECT_FALSE(is_plan_file(dir.file("gguf")));
  EXPECT_FALSE(is_plan_file(dir.file("missing")));
  EXPECT_FALSE(is_plan_file(dir.file("")));  // the directory itself
  expect_refused(dir.file("gguf"), "not an aprc plan");
}

TEST(PlanFormat, RefusesTruncatedPlans) {
  TempDir dir;
  const std::string path = dir.file("a.plan");
  write_sample_plan(path);
  const std::vector<uint8_t> bytes = test::read_file(path);
  for (size_t keep : {size_t{0}, size_t{7}, size_t{31}, size_t{100}, size_t{4096}, size_t{5000}, bytes.size() - 1}) {
    test::write_file(dir.file("cut.plan"), std::vector<uint8_t>(bytes.begin(), bytes.begin() + keep));
    expect_refused(dir.file("cut.plan"), keep < 32 ? "not an aprc plan" : "truncated");
  }
}

TEST(PlanFormat, RefusesAlteredBytesAnywhere) {
  TempDir dir;
  const std::string path = dir.file("a.plan");
  write_sample_plan(path);
  const std::vector<uint8_t> bytes = test::read_file(path);
  auto plan = Plan::open(path);
  auto at = [&](std::string_view section, uint64_t within) {
    for (const PlanSection& s : plan->sections())
      if (s.name == section) return s.offset + within;
    ADD_FAILURE() << "no section " << section;
    return uint64_t{0};
  };
  struct Case {
    uint64_t offset;
    const char* what;
  };
  const Case cases[] = {
      {40, "header CRC32 mismatch"},  // inside the section table
      {at("weights", 70), "section 'weights' CRC32 mismatch"},
      {at("manifest", 10), "section 'manifest' CRC32 mismatch"},
      {at("cpu.so", 10000), "section 'cpu.so' CRC32 mismatch"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> altered = bytes;
    altered[c.offset] ^= 0x10;
    test::write_file(dir.file("altered.plan"), altered);
    expect_refused(dir.file("altered.plan"), c.what);
  }
  // Bytes appended to a plan are refused too.
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  test::write_file(dir.file("longer.plan"), longer);
  expect_refused(dir.file("longer.plan"), "past its end");
}

// A section name holding a newline (the header's CRC32 made right again, as an altered plan may)
// and a damaged section: the message names the section with the newline escaped and stays one line
// (found by fuzz_plan).
TEST(PlanFormat, NamesFromTheFileCannotBreakTheMessageLine) {
  TempDir dir;
  const std::string path = dir.file("a.plan");
  write_sample_plan(path);
  std::vector<uint8_t> bytes = test::read_file(path);
  const auto plan = Plan::open(path);
  for (const PlanSection& s : plan->sections())
    if (s.name == "weights") bytes[s.offset + 70] ^= 0x10;
  PlanHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  uint8_t* table = bytes.data() + sizeof h;
  bool renamed = false;
  for (uint32_t i = 0; i < h.section_count; ++i) {
    char* name = reinterpret_cast<char*>(table + i * sizeof(PlanSectionEntry));
    if (std::string(name) == "weights") name[2] = '\n', renamed = true;  // "we\nghts"
  }
  ASSERT_TRUE(renamed);
  h.header_crc32 = plan_header_crc(h, table);
  std::memcpy(bytes.data(), &h, sizeof h);
  test::write_file(dir.file("renamed.plan"), bytes);
  expect_refused(dir.file("renamed.plan"), "section 'we\\x0aghts' CRC32 mismatch");
  try {
    Plan::open(dir.file("renamed.plan"));
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(PlanFormat, RefusesAnotherFormatVersion) {
  TempDir dir;
  const std::string path = dir.file("a.plan");
  write_sample_plan(path);
  std::vector<uint8_t> bytes = test::read_file(path);
  PlanHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.format_version = kPlanFormatVersion + 1;
  h.header_crc32 = plan_header_crc(h, bytes.data() + sizeof h);
  std::memcpy(bytes.data(), &h, sizeof h);
  test::write_file(path, bytes);
  expect_refused(path, "plan format version " + std::to_string(kPlanFormatVersion + 1));
}

// Writes `m` as a plan with one stored weight (and the sections its targets need), expecting the
// reader to refuse it for `what`.
void expect_manifest_refused(PlanManifest m, const std::string& what) {
  TempDir dir;
  const std::string path = dir.file("bad.plan");
  PlanWriter writer(path);
  std::vector<uint8_t> w(64 * 4);
  writer.add_weight(weight("w", DType::F32, {64}), w);
  writer.add_weight(weight("w2", DType::F32, {64}), w);
  writer.add_section(std::string(plan_section::kCpuObject), {1, 2, 3});
  writer.add_section(std::string(plan_section::kCudaCubinPrefix) + "sm_90", {1});
  writer.add_section(std::string(plan_section::kCudaPtx), {1});
  writer.finish(std::move(m));
  expect_refused(path, what);
}

TEST(PlanFormat, RefusesManifestsThatPointPastWhatTheyIndex) {
  {
    PlanManifest m = sample_manifest();
    m.targets[0].functions[0].steps[0].args[1].index = 9;
    expect_manifest_refused(m, "weight 9 of 2");
  }
  {
    PlanManifest m = sample_manifest();
    m.targets[0].functions[0].steps[0].args[3].index = 2;
    expect_manifest_refused(m, "layer 2 of 2");
  }
  {
    PlanManifest m = sample_manifest();
    m.targets[0].functions[0].steps[0].args[0].offset = Expr{600, 0, 0};  // 8 tokens * 600 > 4096
    expect_manifest_refused(m, "past the arena");
  }
  {
    PlanManifest m = sample_manifest();
    m.targets[0].functions[0].steps[0].args[2].offset = Expr::lit(256);  // weight 0 is 256 bytes
    expect_manifest_refused(m, "past the end of weight 'w'");
  }
  {
    PlanManifest m = sample_manifest();
    m.kv_cache.layers = 3;
    expect_manifest_refused(m, "kv_cache.layers");
  }
  {
    PlanManifest m = sample_manifest();
    m.targets[1].cuda_archs = {"sm_90", "sm_80"};
    expect_manifest_refused(m, "no cubin for it");
  }
}

TEST(PlanFormat, RefusesManifestsWithWrongTypesNamingTheKey) {
  TempDir dir;
  PlanManifest m = sample_manifest();
  nlohmann::json j = manifest_to_json(m);
  j["config"]["hidden_size"] = "wide";
  try {
    manifest_from_json(j, "x.plan");
    ADD_FAILURE() << "accepted a string hidden_size";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "x.plan: manifest: config.hidden_size: expected an integer");
  }
  j = manifest_to_json(m);
  j["targets"][0]["functions"][0]["steps"][1]["args"][0]["kind"] = "register";
  try {
    manifest_from_json(j, "x.plan");
    ADD_FAILURE() << "accepted an unknown argument kind";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("targets[0].functions[0].steps[1].args[0].kind: unknown argument kind 'register'"),
              std::string::npos)
        << e.what();
  }
  j = manifest_to_json(m);
  j["targets"][0]["functions"][0]["steps"][0]["kernel"] = "nowhere";
  EXPECT_THROW(manifest_from_json(j, "x.plan"), Error);
  j = manifest_to_json(m);
  j["weights"] = {{{"name", "w"}, {"source", "s"}, {"dtype", "q4_k"}, {"layout", "row_major"}, {"scales", "per_channel"},
                   {"shape", {3, 100}}, {"offset", 0}, {"bytes", 0}}};
  EXPECT_THROW(manifest_from_json(j, "x.plan"), Error);  // 100 is not a whole number of q4_k blocks
}

// CRC32 one bit at a time, straight from the definition (reflected polynomial 0xEDB88320, init and
// final xor 0xFFFFFFFF), against the table-driven implementation at odd lengths and alignments.
TEST(PlanCrc, MatchesTheBitwiseDefinition) {
  auto bitwise = [](const uint8_t* p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  const std::vector<uint8_t> data = test::random_bytes(5000, 11);
  for (size_t offset : {0, 1, 3, 7})
    for (size_t n : {0, 1, 7, 8, 9, 63, 1000, 4093})
      EXPECT_EQ(crc32(data.data() + offset, n), bitwise(data.data() + offset, n)) << offset << " " << n;
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the standard check value
}

TEST(PlanCrc, CombinedAndParallelCrcsEqualTheSerialOne) {
  const std::vector<uint8_t> data = test::random_bytes((size_t{40} << 20) + 12345, 3);
  const uint32_t whole = crc32(data.data(), data.size());
  for (size_t cut : {size_t{0}, size_t{1}, size_t{1000}, data.size() / 3, data.size()}) {
    const uint32_t a = crc32(data.data(), cut), b = crc32(data.data() + cut, data.size() - cut);
    EXPECT_EQ(crc32_combine(a, b, data.size() - cut), whole) << "cut at " << cut;
  }
  for (int threads : {1, 2, 3, 7}) EXPECT_EQ(crc32_parallel(data.data(), data.size(), threads), whole) << threads;
}

}  // namespace
}  // namespace aprc
