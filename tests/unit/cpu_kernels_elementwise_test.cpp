// Generated Embedding, RmsNorm, Silu, Mul and Add kernels against fp64 references.
#include "cpu_kernels_test_util.h"

namespace aprc::test {
namespace {

KernelSpec pointwise(KernelKind kind, int64_t cols) {
  KernelSpec s;
  s.kind = kind;
  s.cols = cols;
  return s;
}

TEST(CpuKernelsElementwise, SiluMulAddMatchReference) {
  on_each_target([&](const CpuTarget& target) {
    const int64_t cols = 37;
    std::vector<KernelSpec> specs = {pointwise(KernelKind::Silu, cols), pointwise(KernelKind::Mul, cols),
                                     pointwise(KernelKind::Add, cols)};
    auto mod = compile_for(target, specs);
    Rng rng(1);
    for (int64_t T : {1, 3, 17}) {
      std::vector<float> a = rng.floats(T * cols, 6.0), b = rng.floats(T * cols, 2.0), out(T * cols);
      for (const KernelSpec& s : specs) {
        poison(out);
        std::vector<double> ref(T * cols);
        for (int64_t i = 0; i < T * cols; ++i) {
          const double x = a[i], y = b[i];
          ref[i] = s.kind == KernelKind::Silu ? x / (1 + std::exp(-x)) : s.kind == KernelKind::Mul ? x * y : x + y;
        }
        std::vector<void*> args = s.kind == KernelKind::Silu ? std::vector<void*>{a.data(), out.data()}
                                                            : std::vector<void*>{a.data(), b.data(), out.data()};
        run_chunked(mod->get(s.name()), args, {T, 0}, T, 100 + T);
        EXPECT_LT(rel_error(out.data(), ref), 1e-6) << s.name() << " T=" << T;
      }
    }
  });
}

TEST(CpuKernelsElementwise, RmsNormMatchesReference) {
  on_each_target([&](const CpuTarget& target) {
    Rng rng(2);
    for (DType gd : {DType::F32, DType::BF16, DType::F16}) {
      const int64_t H = 61;
      KernelSpec s;
      s.kind = KernelKind::RmsNorm;
      s.cols = H;
      s.eps = 1e-5;
      s.weights = {WeightDesc{gd, WeightLayout::RowMajor, ScaleGranularity::PerChannel, 1, H}};
      auto mod = compile_for(target, {s});
      std::vector<uint8_t> gamma = random_weight(rng, gd, 1, H);
      std::vector<double> g = dequantized(gamma, gd, 1, H);
      for (int64_t T : {1, 3, 17}) {
        std::vector<float> x = rng.floats(T * H, 3.0), out(T * H);
        poison(out);
        std::vector<double> ref(T * H);
        for (int64_t t = 0; t < T; ++t) {
          double ss = 0;
          for (int64_t i = 0; i < H; ++i) ss += double(x[t * H + i]) * x[t * H + i];
          const double inv = 1 / std::sqrt(ss / H + s.eps);
          for (int64_t i = 0; i < H; ++i) ref[t * H + i] = x[t * H + i] * inv * g[i];
        }
        run_chunked(mod->get(s.name()), {x.data(), gamma.data(), out.data()}, {T, 0}, T, 7 + T);
        EXPECT_LT(rel_error(out.data(), ref), 1e-6) << s.name() << " T=" << T;
      }
    }
  });
}

struct EmbeddingCase {
  DType dtype;
  WeightLayout layout;
  int64_t cols;
};

TEST(CpuKernelsElementwise, EmbeddingReadsEveryFormatAndLayout) {
  on_each_target([&](const CpuTarget& target) {
    const EmbeddingCase cases[] = {
        {DType::F32, WeightLayout::RowMajor, 45},   {DType::F16, WeightLayout::RowMajor, 45},
        {DType::BF16, WeightLayout::RowMajor, 45},  {DType::FP8_E4M3, WeightLayout::RowMajor, 45},
        {DType::AprQ8, WeightLayout::RowMajor, 45}, {DType::Q8_0, WeightLayout::RowMajor, 96},
        {DType::Q5_0, WeightLayout::RowMajor, 96},  {DType::AprQ4, WeightLayout::RowMajor, 96},
        {DType::Q4_K, WeightLayout::RowMajor, 512}, {DType::Q5_K, WeightLayout::RowMajor, 512},
        {DType::Q6_K, WeightLayout::RowMajor, 512}, {DType::Q8_0, WeightLayout::CpuR16, 96},
        {DType::Q5_0, WeightLayout::CpuR16, 96},    {DType::Q4_K, WeightLayout::CpuR16, 512},
        {DType::Q6_K, WeightLayout::CpuR16, 512},
    };
    const int64_t V = 37;
    std::vector<KernelSpec> specs;
    for (const auto& c : cases) {
      KernelSpec s;
      s.kind = KernelKind::Embedding;
      s.weights = {WeightDesc{c.dtype, c.layout, ScaleGranularity::PerChannel, V, c.cols}};
      s.cols = c.cols;
      specs.push_back(s);
    }
    auto mod = compile_for(target, specs);
    Rng rng(3);
    for (size_t ci = 0; ci < specs.size(); ++ci) {
      const auto& c = cases[ci];
      std::vector<uint8_t> table = random_weight(rng, c.dtype, V, c.cols);
      std::vector<double> values = dequantized(table, c.dtype, V, c.cols);
      if (c.layout != WeightLayout::RowMajor) table = repack(c.layout, TensorView{c.dtype, {V, c.cols}, table});
      const int64_t T = 17;
      std::vector<int32_t> ids(T);
      for (auto& id : ids) id = int32_t(rng.integer(0, V - 1));
      ids[0] = V - 1;
      std::vector<float> out(T * c.cols);
      poison(out);
      std::vector<double> ref(T * c.cols);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < c.cols; ++i) ref[t * c.cols + i] = values[ids[t] * c.cols + i];
      run_chunked(mod->get(specs[ci].name()), {ids.data(), table.data(), out.data()}, {T, 0}, T, 5);
      EXPECT_LT(rel_error(out.data(), ref), 1e-7) << specs[ci].name();
    }
  });
}

}  // namespace
}  // namespace aprc::test
