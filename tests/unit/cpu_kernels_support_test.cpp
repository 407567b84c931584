// What the CPU kernels stand on: the cpu_r16 layout (repack and read back), kernel names, the CPU
// target check and loading generated code.
#include <set>

#include "aprc/error.h"
#include "cpu_kernels_test_util.h"

namespace aprc::test {
namespace {

TEST(CpuR16Layout, RepackThenReadBackGivesTheRowMajorValues) {
  Rng rng(51);
  for (DType dt : {DType::Q8_0, DType::Q5_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t rows = 37, cols = format_info(dt).block_weights * 3;
    ASSERT_TRUE(layout_supports(WeightLayout::CpuR16, dt));
    std::vector<uint8_t> rm = random_weight(rng, dt, rows, cols);
    std::vector<uint8_t> packed = repack(WeightLayout::CpuR16, TensorView{dt, {rows, cols}, rm});
    // padded to 48 rows, the same bytes per row
    EXPECT_EQ(packed.size(), 48 * *row_bytes(dt, cols));
    EXPECT_EQ(*layout_bytes(WeightLayout::CpuR16, dt, rows, cols), packed.size());
    std::vector<double> want = dequantized(rm, dt, rows, cols);
    TensorView view{dt, {rows, cols}, packed};
    std::vector<float> got(rows * cols);
    dequantize_rows_in_layout(WeightLayout::CpuR16, view, 0, rows, got.data());
    for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(got[i], float(want[i])) << dtype_name(dt) << " element " << i;
    // a range that starts inside a group and ends in another
    std::vector<float> part(11 * cols);
    dequantize_rows_in_layout(WeightLayout::CpuR16, view, 13, 24, part.data());
    for (int64_t i = 0; i < 11 * cols; ++i) ASSERT_EQ(part[i], float(want[13 * cols + i])) << dtype_name(dt);
  }
}

TEST(CpuR16Layout, HoldsOnlyItsFormatsAndHasAName) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::Q5_K, DType::AprQ4, DType::AprQ8, DType::FP8_E4M3}) {
    EXPECT_FALSE(layout_supports(WeightLayout::CpuR16, dt)) << dtype_name(dt);
    EXPECT_FALSE(layout_bytes(WeightLayout::CpuR16, dt, 16, 256).has_value()) << dtype_name(dt);
  }
  EXPECT_EQ(layout_from_name(layout_name(WeightLayout::CpuR16)), WeightLayout::CpuR16);
  EXPECT_FALSE(layout_from_name("cpu_r17").has_value());
}

KernelSpec base_linear() {
  KernelSpec s;
  s.kind = KernelKind::Linear;
  s.weights = {WeightDesc{DType::Q4_K, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 256, 512}};
  return s;
}

TEST(KernelSpecName, DiffersWheneverTheCodeWouldAndIsAnIdentifier) {
  std::vector<KernelSpec> specs;
  specs.push_back(base_linear());
  auto vary = [&](auto change) {
    KernelSpec s = base_linear();
    change(s);
    specs.push_back(s);
  };
  vary([](KernelSpec& s) { s.weights[0].layout = WeightLayout::CpuR16; });
  vary([](KernelSpec& s) { s.weights[0].rows = 255; });
  vary([](KernelSpec& s) { s.weights[0].dtype = DType::Q6_K; });
  vary([](KernelSpec& s) { s.int8_activations = true; });
  vary([](KernelSpec& s) { s.fp8_activations = true; });
  vary([](KernelSpec& s) { s.epilogue = Epilogue::Residual; });
  vary([](KernelSpec& s) {
    s.has_norm = true;
    s.norm = WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, 512};
  });
  vary([](KernelSpec& s) {
    s.has_norm = true;
    s.norm = WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, 512};
    s.eps = 1e-5;
  });
  vary([](KernelSpec& s) { s.biases = {WeightDesc{DType::F32, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, 256}}; });
  vary([](KernelSpec& s) { s.weights.push_back(s.weights[0]); });
  vary([](KernelSpec& s) {
    s.weights.push_back(s.weights[0]);
    s.epilogue = Epilogue::SwiGLU;
  });
  vary([](KernelSpec& s) {
    s.weights[0] = WeightDesc{DType::FP8_E4M3, WeightLayout::RowMajor, ScaleGranularity::PerTensor, 256, 512};
  });
  vary([](KernelSpec& s) {
    s.weights[0] = WeightDesc{DType::FP8_E4M3, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 256, 512};
  });
  KernelSpec att;
  att.kind = KernelKind::Attention;
  att.heads = 14;
  att.kv_heads = 2;
  att.head_dim = 64;
  att.scale = 0.125f;
  specs.push_back(att);
  att.scale = 0.126f;
  specs.push_back(att);
  att.kv_heads = 7;
  specs.push_back(att);
  KernelSpec kv;
  kv.kind = KernelKind::KvAppend;
  kv.kv_heads = 2;
  kv.head_dim = 64;
  specs.push_back(kv);
  kv.rope = true;
  specs.push_back(kv);
  kv.theta = 10000;
  specs.push_back(kv);
  for (KernelKind kind : {KernelKind::Silu, KernelKind::Mul, KernelKind::Add}) {
    KernelSpec e;
    e.kind = kind;
    e.cols = 896;
    specs.push_back(e);
  }
  std::set<std::string> names;
  for (const KernelSpec& s : specs) {
    const std::string n = s.name();
    EXPECT_TRUE(names.insert(n).second) << "two specs share the name " << n;
    for (char c : n) EXPECT_TRUE(std::isalnum((unsigned char)c) || c == '_') << n;
    EXPECT_EQ(n, KernelSpec(s).name());  // stable
  }
  // fields that a kind does not read do not change its name
  KernelSpec e;
  e.kind = KernelKind::Add;
  e.cols = 896;
  KernelSpec e2 = e;
  e2.theta = 5;
  e2.head_dim = 3;
  EXPECT_EQ(e.name(), e2.name());
}

TEST(CpuStep, NamesKernelsSetsInt8ForPrefillAndGroupsAttentionHeads) {
  Step lin;
  lin.spec = base_linear();
  lin.grain = 16;
  Step dec = lin;
  finish_cpu_step(lin, 512, CpuStepOptions{true});
  finish_cpu_step(dec, 1, CpuStepOptions{true});
  EXPECT_TRUE(lin.spec.int8_activations);
  EXPECT_FALSE(dec.spec.int8_activations);
  EXPECT_EQ(lin.kernel, lin.spec.name());
  EXPECT_EQ(dec.kernel, dec.spec.name());
  EXPECT_NE(lin.kernel, dec.kernel);
  EXPECT_EQ(lin.grain, 16);
  Step att;
  att.spec.kind = KernelKind::Attention;
  att.spec.heads = 14;
  att.spec.kv_heads = 2;
  att.spec.head_dim = 64;
  finish_cpu_step(att, 512, CpuStepOptions{});
  EXPECT_EQ(att.grain, 7);
  EXPECT_EQ(att.kernel, att.spec.name());
}

TEST(CpuTargetCheck, TheHostRunsItsOwnTargetAndNotAnUnknownFeature) {
  const CpuTarget host = host_cpu_target();
  EXPECT_FALSE(host.triple.empty());
  EXPECT_TRUE(missing_cpu_features(host).empty());
  for (const std::string& f : host.features) {
    bool known = false;
    for (const char* k : known_cpu_features()) known |= f == k;
    EXPECT_TRUE(known) << f;
  }
  CpuTarget other = host;
  other.features.push_back("avx512fp16-that-no-cpu-has");
  std::vector<std::string> missing = missing_cpu_features(other);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0], "avx512fp16-that-no-cpu-has");
}

TEST(CpuModuleLoad, RefusesBytesThatAreNotASharedObject) {
  auto expect_bad_input = [](std::vector<uint8_t> bytes, const char* what) {
    try {
      CpuModule::load(bytes, "x.plan: section cpu.so");
      ADD_FAILURE() << what << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput) << what;
      EXPECT_NE(std::string(e.what()).find("x.plan: section cpu.so"), std::string::npos) << e.what();
    }
  };
  expect_bad_input({}, "nothing");
  expect_bad_input(std::vector<uint8_t>(200, 0x41), "text");
  KernelSpec s;
  s.kind = KernelKind::Add;
  s.cols = 16;
  std::vector<uint8_t> so = compile_cpu_kernels({s}, host_cpu_target());
  std::vector<uint8_t> cut(so.begin(), so.begin() + so.size() / 2);
  expect_bad_input(cut, "a truncated object");
  auto mod = CpuModule::load(so, "x.plan: section cpu.so");
  EXPECT_NE(mod->find(s.name()), nullptr);
  EXPECT_EQ(mod->find("linear_nothing"), nullptr);
  try {
    mod->get("linear_nothing");
    ADD_FAILURE() << "found a kernel that is not there";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
  }
  // two modules live side by side, each with its own kernels
  KernelSpec m = s;
  m.kind = KernelKind::Mul;
  auto other = CpuModule::load(compile_cpu_kernels({m}, host_cpu_target()), "z.plan: section cpu.so");
  EXPECT_NE(other->find(m.name()), nullptr);
  EXPECT_EQ(other->find(s.name()), nullptr);
  auto mod2 = CpuModule::load(so, "y.plan: section cpu.so");
  float a[16], b[16], out[16];
  for (int i = 0; i < 16; ++i) a[i] = float(i), b[i] = 0.5f;
  void* args[] = {a, b, out};
  const int64_t sc[2] = {1, 0};
  mod2->get(s.name())(args, sc, 0, 1);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], float(i) + 0.5f);
}

}  // namespace
}  // namespace aprc::test
