// Generated Rope, KvAppend and Attention kernels against fp64 references.
#include "cpu_kernels_test_util.h"

namespace aprc::test {
namespace {

// NeoX rotate-half RoPE of one head (D values) at position p, in fp64.
void rope_ref(double* x, int64_t D, int64_t p, double theta) {
  for (int64_t i = 0; i < D / 2; ++i) {
    const double a = double(p) * std::pow(theta, -2.0 * double(i) / double(D));
    const double x1 = x[i], x2 = x[i + D / 2];
    x[i] = x1 * std::cos(a) - x2 * std::sin(a);
    x[i + D / 2] = x2 * std::cos(a) + x1 * std::sin(a);
  }
}

TEST(CpuKernelsAttention, RopeMatchesReference) {
  on_each_target([&](const CpuTarget& target) {
    Rng rng(11);
    // head_dim 64 and 128 are Qwen's; 20 leaves a partial 8-lane step; positions reach 40000.
    for (int64_t D : {64, 128, 20}) {
      KernelSpec s;
      s.kind = KernelKind::Rope;
      s.heads = 3;
      s.head_dim = D;
      s.theta = 1e6;
      auto mod = compile_for(target, {s});
      for (int64_t T : {1, 3, 17})
        for (int64_t pos : {0, 5, 40000}) {
          std::vector<float> x = rng.floats(T * 3 * D);
          std::vector<double> ref(x.begin(), x.end());
          for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < 3; ++h) rope_ref(&ref[(t * 3 + h) * D], D, pos + t, s.theta);
          run_chunked(mod->get(s.name()), {x.data()}, {T, pos}, T, 3 + T);
          EXPECT_LT(rel_error(x.data(), ref), 2e-6) << s.name() << " T=" << T << " pos=" << pos;
        }
    }
  });
}

TEST(CpuKernelsAttention, KvAppendWritesTheCacheAndRotatesK) {
  on_each_target([&](const CpuTarget& target) {
    Rng rng(12);
    for (bool rope : {false, true}) {
      KernelSpec s;
      s.kind = KernelKind::KvAppend;
      s.kv_heads = 2;
      s.head_dim = 48;
      s.rope = rope;
      s.theta = 10000;
      auto mod = compile_for(target, {s});
      const int64_t W = s.kv_heads * s.head_dim, max_seq = 40;
      for (int64_t T : {1, 3, 17}) {
        const int64_t pos = 40 - T - 2;
        std::vector<float> k = rng.floats(T * W), v = rng.floats(T * W);
        std::vector<float> ck = rng.floats(max_seq * W), cv = rng.floats(max_seq * W);
        std::vector<double> ref_k(k.begin(), k.end()), ref_ck(ck.begin(), ck.end()), ref_cv(cv.begin(), cv.end());
        if (rope)
          for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < s.kv_heads; ++h) rope_ref(&ref_k[(t * s.kv_heads + h) * s.head_dim], s.head_dim, pos + t, s.theta);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < W; ++i) {
            ref_ck[(pos + t) * W + i] = ref_k[t * W + i];
            ref_cv[(pos + t) * W + i] = v[t * W + i];
          }
        run_chunked(mod->get(s.name()), {k.data(), v.data(), ck.data(), cv.data()}, {T, pos}, T, 9 + T);
        EXPECT_LT(rel_error(k.data(), ref_k), 2e-6) << s.name();
        EXPECT_LT(rel_error(ck.data(), ref_ck), 2e-6) << s.name();  // includes the untouched rows
        EXPECT_LT(rel_error(cv.data(), ref_cv), 1e-7) << s.name();
      }
    }
  });
}

TEST(CpuKernelsAttention, CausalGqaMatchesReference) {
  on_each_target([&](const CpuTarget& target) {
    Rng rng(13);
    struct Case {
      int64_t heads, kv_heads, D;
    };
    for (Case c : {Case{6, 2, 64}, Case{3, 3, 24}, Case{4, 1, 128}}) {
      KernelSpec s;
      s.kind = KernelKind::Attention;
      s.heads = c.heads;
      s.kv_heads = c.kv_heads;
      s.head_dim = c.D;
      s.scale = float(1 / std::sqrt(double(c.D)));
      auto mod = compile_for(target, {s});
      const int64_t max_seq = 80, KW = c.kv_heads * c.D, QW = c.heads * c.D;
      // T = 40: two 16-token tiles and 8 tokens one by one
      for (int64_t T : {1, 3, 17, 40})
        for (int64_t pos : {0, 1, 39}) {
          std::vector<float> q = rng.floats(T * QW, 2.0), ck = rng.floats(max_seq * KW, 2.0), cv = rng.floats(max_seq * KW);
          std::vector<float> out(T * QW);
          poison(out);
          std::vector<double> ref(T * QW);
          for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < c.heads; ++h) {
              const int64_t g = h / (c.heads / c.kv_heads), n = pos + t + 1;
              std::vector<double> w(n);
              double mx = -INFINITY, sum = 0;
              for (int64_t j = 0; j < n; ++j) {
                double d = 0;
                for (int64_t i = 0; i < c.D; ++i) d += double(q[t * QW + h * c.D + i]) * ck[(j * c.kv_heads + g) * c.D + i];
                w[j] = d * s.scale;
                mx = std::max(mx, w[j]);
              }
              for (auto& x : w) sum += (x = std::exp(x - mx));
              for (int64_t i = 0; i < c.D; ++i) {
                double o = 0;
                for (int64_t j = 0; j < n; ++j) o += w[j] * cv[(j * c.kv_heads + g) * c.D + i];
                ref[t * QW + h * c.D + i] = o / sum;
              }
            }
          run_chunked(mod->get(s.name()), {q.data(), ck.data(), cv.data(), out.data()}, {T, pos}, c.heads, 21 + T);
          EXPECT_LT(rel_error(out.data(), ref), 1e-5) << s.name() << " T=" << T << " pos=" << pos;
        }
    }
  });
}

}  // namespace
}  // namespace aprc::test
