// Generated Linear kernels (matrix-vector for T = 1, matrix-matrix for T > 1) against an fp64
// reference computed from the weights as aprc::dequantize_rows reads them: every weight format and
// layout, the RMSNorm prologue, biases, the SwiGLU and residual epilogues, several weights at once.
#include "aprc/error.h"
#include "cpu_kernels_test_util.h"

namespace aprc::test {
namespace {

WeightDesc wd(DType dt, int64_t rows, int64_t cols, WeightLayout layout = WeightLayout::RowMajor,
              ScaleGranularity sc = ScaleGranularity::PerChannel) {
  return WeightDesc{dt, layout, sc, rows, cols};
}

struct LinearData {
  KernelSpec spec;
  std::vector<std::vector<uint8_t>> w_bytes;  // as the kernel reads them (repacked for cpu_r16)
  std::vector<std::vector<double>> w_vals;    // row-major values
  std::vector<std::vector<float>> biases;
  std::vector<uint8_t> gamma;       // in the norm's dtype
  std::vector<double> gamma_vals;
};

LinearData make_data(Rng& rng, const KernelSpec& spec) {
  LinearData d{spec, {}, {}, {}, {}, {}};
  for (const WeightDesc& w : spec.weights) {
    std::vector<uint8_t> bytes = random_weight(rng, w.dtype, w.rows, w.cols, w.scales);
    d.w_vals.push_back(dequantized(bytes, w.dtype, w.rows, w.cols, w.scales));
    if (w.layout != WeightLayout::RowMajor) bytes = repack(w.layout, TensorView{w.dtype, {w.rows, w.cols}, bytes});
    d.w_bytes.push_back(std::move(bytes));
  }
  for (const WeightDesc& b : spec.biases) d.biases.push_back(rng.floats(b.cols, 0.5));
  if (spec.has_norm) {
    d.gamma = random_weight(rng, spec.norm.dtype, 1, spec.norm.cols);
    d.gamma_vals = dequantized(d.gamma, spec.norm.dtype, 1, spec.norm.cols);
  }
  return d;
}

// Runs the kernel for T tokens and checks every output (T = 1 takes the matrix-vector path, except
// with fp8 activations); `alias` makes the residual output write
// over its input, as the executor may.
void check_linear(CpuModule& mod, LinearData& d, int64_t T, bool alias, Rng& rng, double tol) {
  const KernelSpec& s = d.spec;
  const int64_t K = s.weights[0].cols;
  std::vector<float> x = rng.floats(T * K, 2.0);
  // fp64 reference of the prologue
  std::vector<double> xn(x.begin(), x.end());
  if (s.has_norm)
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t k = 0; k < K; ++k) ss += xn[t * K + k] * xn[t * K + k];
      const double inv = 1 / std::sqrt(ss / K + s.eps);
      for (int64_t k = 0; k < K; ++k) xn[t * K + k] *= inv * d.gamma_vals[k];
    }
  // per-token fp8 activations: each normalized row (in f32, as the kernels have it) through the
  // interpreter's rule (formats.h, fp8_per_token_row: two e4m3 terms a value)
  if (s.fp8_activations) {
    std::vector<float> row(K);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t k = 0; k < K; ++k) row[k] = float(xn[t * K + k]);
      fp8_per_token_row(row.data(), K);
      for (int64_t k = 0; k < K; ++k) xn[t * K + k] = row[k];
    }
  }
  auto matmul = [&](size_t i) {
    const int64_t N = s.weights[i].rows;
    std::vector<double> y(T * N);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < N; ++r) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += xn[t * K + k] * d.w_vals[i][r * K + k];
        y[t * N + r] = acc + (d.biases.empty() ? 0.0 : d.biases[i][r]);
      }
    return y;
  };

  std::vector<void*> args{x.data()};
  if (s.has_norm) args.push_back(d.gamma.data());
  std::vector<float> resid;
  if (s.epilogue == Epilogue::Residual) {
    resid = rng.floats(T * s.weights[0].rows);
    args.push_back(resid.data());
  }
  for (auto& w : d.w_bytes) args.push_back(w.data());
  for (auto& b : d.biases) args.push_back(b.data());

  std::vector<std::vector<float>> outs;
  std::vector<std::vector<double>> refs;
  int64_t extent = 0;
  if (s.epilogue == Epilogue::None) {
    for (size_t i = 0; i < s.weights.size(); ++i) {
      refs.push_back(matmul(i));
      extent += s.weights[i].rows;
    }
  } else if (s.epilogue == Epilogue::SwiGLU) {
    std::vector<double> g = matmul(0), u = matmul(1);
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    refs.push_back(g);
    extent = s.weights[0].rows;
  } else {
    std::vector<double> y = matmul(0);
    for (size_t i = 0; i < y.size(); ++i) y[i] += resid[i];
    refs.push_back(y);
    extent = s.weights[0].rows;
  }
  for (auto& r : refs) {
    outs.emplace_back(r.size());
    poison(outs.back());
  }
  for (size_t i = 0; i < outs.size(); ++i)
    args.push_back(alias && s.epilogue == Epilogue::Residual ? resid.data() : outs[i].data());
  run_chunked(mod.get(s.name()), args, {T, 0}, extent, 31 + T, 16);
  for (size_t i = 0; i < refs.size(); ++i) {
    const float* got = alias && s.epilogue == Epilogue::Residual ? resid.data() : outs[i].data();
    EXPECT_LT(rel_error(got, refs[i]), tol) << s.name() << " output " << i << " T=" << T;
  }
}

void check_specs(const std::vector<KernelSpec>& specs, uint64_t seed, double tol = 2e-5,
                 std::vector<int64_t> tokens = {1, 3, 17}, const CpuTarget* target = nullptr) {
  auto mod = target ? CpuModule::load(compile_cpu_kernels(specs, *target), "test kernels") : compile_for_host(specs);
  Rng rng(seed);
  for (const KernelSpec& s : specs) {
    LinearData d = make_data(rng, s);
    for (int64_t T : tokens) check_linear(*mod, d, T, false, rng, tol);
    if (s.epilogue == Epilogue::Residual) check_linear(*mod, d, 5, true, rng, tol);
  }
}

KernelSpec linear(std::vector<WeightDesc> w) {
  KernelSpec s;
  s.kind = KernelKind::Linear;
  s.weights = std::move(w);
  return s;
}

TEST(CpuKernelsLinear, RowMajorPlainFormats) {
  std::vector<KernelSpec> specs;
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::AprQ8, DType::FP8_E4M3})
    specs.push_back(linear({wd(dt, 37, 45)}));
  specs.push_back(linear({wd(DType::FP8_E4M3, 19, 80, WeightLayout::RowMajor, ScaleGranularity::PerTensor)}));
  check_specs(specs, 41);
}

TEST(CpuKernelsLinear, RowMajorBlockFormats) {
  std::vector<KernelSpec> specs;
  for (DType dt : {DType::Q8_0, DType::Q5_0, DType::AprQ4}) specs.push_back(linear({wd(dt, 37, 96)}));
  for (DType dt : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) specs.push_back(linear({wd(dt, 21, 768)}));
  check_specs(specs, 42);
}

TEST(CpuKernelsLinear, CpuR16Formats) {
  std::vector<KernelSpec> specs;
  for (DType dt : {DType::Q8_0, DType::Q5_0}) specs.push_back(linear({wd(dt, 37, 224, WeightLayout::CpuR16)}));
  for (DType dt : {DType::Q4_K, DType::Q6_K}) specs.push_back(linear({wd(dt, 37, 768, WeightLayout::CpuR16)}));
  check_specs(specs, 43);
}

// The paths of CPUs with less: f32 matrix-vector readers (no AVX512-BF16), f32 prefill in place of
// int8 (no VNNI), and 256-bit vectors only (AVX2). They must run here too.
TEST(CpuKernelsLinear, CpuR16FormatsOnSmallerCpus) {
  std::vector<KernelSpec> specs;
  for (DType dt : {DType::Q8_0, DType::Q5_0}) specs.push_back(linear({wd(dt, 37, 224, WeightLayout::CpuR16)}));
  for (DType dt : {DType::Q4_K, DType::Q6_K}) specs.push_back(linear({wd(dt, 37, 768, WeightLayout::CpuR16)}));
  KernelSpec i8 = linear({wd(DType::Q4_K, 21, 512, WeightLayout::CpuR16)});
  i8.int8_activations = true;
  specs.push_back(i8);
  const CpuTarget no_bf16 = host_without({"avx512bf16", "avx512vnni"});
  check_specs(specs, 47, 2e-5, {1, 3, 17}, &no_bf16);
  const CpuTarget avx2 = host_as_avx2();
  ASSERT_TRUE(std::find(avx2.features.begin(), avx2.features.end(), "avx2") != avx2.features.end());
  check_specs(specs, 48, 2e-5, {1, 3, 17}, &avx2);
  KernelSpec plain = linear({wd(DType::BF16, 37, 256), wd(DType::Q4_K, 5, 256)});
  check_specs({plain}, 49, 2e-5, {1, 3, 17}, &avx2);
}

TEST(CpuKernelsLinear, FusedQkvWithNormAndBiases) {
  // q, k, v of different row counts and formats behind one RMSNorm, each with its bias.
  const int64_t K = 512;
  KernelSpec s = linear({wd(DType::Q4_K, 48, K, WeightLayout::CpuR16), wd(DType::Q4_K, 17, K),
                         wd(DType::Q6_K, 17, K, WeightLayout::CpuR16)});
  s.has_norm = true;
  s.norm = wd(DType::F32, 1, K);
  s.eps = 1e-6;
  for (const WeightDesc& w : s.weights) s.biases.push_back(wd(DType::F32, 1, w.rows));
  KernelSpec plain = linear({wd(DType::F16, 33, 40), wd(DType::BF16, 7, 40)});
  plain.has_norm = true;
  plain.norm = wd(DType::BF16, 1, 40);
  check_specs({s, plain}, 44);
}

TEST(CpuKernelsLinear, SwiGluAndResidualEpilogues) {
  KernelSpec gate_up = linear({wd(DType::Q5_0, 53, 224, WeightLayout::CpuR16), wd(DType::Q8_0, 53, 224, WeightLayout::CpuR16)});
  gate_up.epilogue = Epilogue::SwiGLU;
  gate_up.has_norm = true;
  gate_up.norm = wd(DType::F32, 1, 224);
  KernelSpec down = linear({wd(DType::Q6_K, 45, 768, WeightLayout::CpuR16)});
  down.epilogue = Epilogue::Residual;
  KernelSpec down_rm = linear({wd(DType::Q4_K, 19, 256)});
  down_rm.epilogue = Epilogue::Residual;
  down_rm.has_norm = true;
  down_rm.norm = wd(DType::F32, 1, 256);
  check_specs({gate_up, down, down_rm}, 45);
}

// The opt-in int8 activation path (prefill only; T = 1 stays f32) is held to llama.cpp's level.
// 70 tokens span two of its token blocks.
TEST(CpuKernelsLinear, Int8ActivationsStayWithinTheirBound) {
  std::vector<KernelSpec> specs;
  for (DType dt : {DType::Q8_0, DType::Q5_0}) specs.push_back(linear({wd(dt, 37, 224, WeightLayout::CpuR16)}));
  for (DType dt : {DType::Q4_K, DType::Q6_K}) specs.push_back(linear({wd(dt, 37, 768, WeightLayout::CpuR16)}));
  KernelSpec mixed = linear({wd(DType::Q6_K, 21, 512, WeightLayout::CpuR16), wd(DType::Q4_K, 21, 512, WeightLayout::CpuR16)});
  mixed.epilogue = Epilogue::SwiGLU;
  mixed.has_norm = true;
  mixed.norm = wd(DType::F32, 1, 512);
  specs.push_back(mixed);
  KernelSpec resid = linear({wd(DType::Q4_K, 33, 256, WeightLayout::CpuR16)});
  resid.epilogue = Epilogue::Residual;
  specs.push_back(resid);
  KernelSpec qkv = linear({wd(DType::Q5_0, 32, 96, WeightLayout::CpuR16), wd(DType::Q8_0, 17, 96, WeightLayout::CpuR16)});
  for (const WeightDesc& w : qkv.weights) qkv.biases.push_back(wd(DType::F32, 1, w.rows));
  specs.push_back(qkv);
  for (KernelSpec& s : specs) s.int8_activations = true;
  check_specs(specs, 46, 2e-2, {1, 3, 17, 70});
}

// Per-token fp8 activations (prefill of --fp8-activations per-token plans): every shape of Linear
// on fp8e4m3 weights (per channel and per tensor) against the fp64 product of the e4m3-rounded
// normalized rows. T = 1 takes the same path; 70 tokens span two token blocks, and the long rows of
// 9001 columns make the blocks 8 tokens (17 tokens: three blocks, the last partial).
TEST(CpuKernelsLinear, Fp8PerTokenActivations) {
  const auto fp8 = [](int64_t rows, int64_t cols, ScaleGranularity sc = ScaleGranularity::PerChannel) {
    return wd(DType::FP8_E4M3, rows, cols, WeightLayout::RowMajor, sc);
  };
  std::vector<KernelSpec> specs;
  specs.push_back(linear({fp8(37, 45)}));
  specs.push_back(linear({fp8(19, 80, ScaleGranularity::PerTensor)}));
  KernelSpec qkv = linear({fp8(48, 101), fp8(17, 101), fp8(17, 101, ScaleGranularity::PerTensor)});
  qkv.has_norm = true;
  qkv.norm = wd(DType::F32, 1, 101);
  qkv.eps = 1e-6;
  for (const WeightDesc& w : qkv.weights) qkv.biases.push_back(wd(DType::F32, 1, w.rows));
  specs.push_back(qkv);
  KernelSpec gate_up = linear({fp8(53, 67), fp8(53, 67)});
  gate_up.epilogue = Epilogue::SwiGLU;
  gate_up.has_norm = true;
  gate_up.norm = wd(DType::BF16, 1, 67);
  specs.push_back(gate_up);
  KernelSpec down = linear({fp8(45, 131)});
  down.epilogue = Epilogue::Residual;
  specs.push_back(down);
  for (KernelSpec& s : specs) s.fp8_activations = true;
  check_specs(specs, 50, 1e-5, {1, 3, 17, 70});
  KernelSpec wide = linear({fp8(5, 9001)});
  wide.has_norm = true;
  wide.norm = wd(DType::F32, 1, 9001);
  wide.fp8_activations = true;
  check_specs({wide}, 51, 1e-5, {1, 17});
  // The fixture's shapes (hidden 256, ffn 768, a vocabulary-sized logits block of rows).
  KernelSpec fqkv = linear({fp8(256, 256), fp8(128, 256), fp8(128, 256)});
  fqkv.has_norm = true;
  fqkv.norm = wd(DType::F32, 1, 256);
  fqkv.eps = 1e-6;
  for (const WeightDesc& w : fqkv.weights) fqkv.biases.push_back(wd(DType::F32, 1, w.rows));
  KernelSpec fgu = linear({fp8(768, 256), fp8(768, 256)});
  fgu.epilogue = Epilogue::SwiGLU;
  fgu.has_norm = true;
  fgu.norm = wd(DType::F32, 1, 256);
  fgu.eps = 1e-6;
  KernelSpec fdown = linear({fp8(256, 768)});
  fdown.epilogue = Epilogue::Residual;
  KernelSpec flog = linear({fp8(1003, 256)});
  std::vector<KernelSpec> fixture_shapes{fqkv, fgu, fdown, flog};
  for (KernelSpec& s : fixture_shapes) s.fp8_activations = true;
  check_specs(fixture_shapes, 52, 1e-5, {1, 16, 4});
}

// The CPU backend refuses fp8 activations on a weight that is not fp8 (the cast pass never makes
// one) with a one-line error that names the kernel.
TEST(CpuKernelsLinear, Fp8ActivationsNeedFp8Weights) {
  KernelSpec s = linear({wd(DType::FP8_E4M3, 16, 64), wd(DType::Q8_0, 16, 64)});
  s.fp8_activations = true;
  try {
    compile_for_host({s});
    FAIL() << "compiled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("need every weight fp8e4m3, not q8_0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc::test
