// CUDA C++ emission: one __global__ function per (KernelSpec, variant). The emitted kernels are
// plain: the sizes of the spec are compile-time constants, the fusions (norm prologue, biases,
// SwiGLU / residual epilogues, several weights) are explicit code, and the per-warp work calls the
// device library (codegen/cuda/device), which is embedded in the same source.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "aprc/codegen/cuda.h"
#include "aprc/error.h"

namespace aprc::cuda {
namespace {

struct Param {
  std::string type, name;
};

struct Kernel {
  std::string name;
  int threads = 0;
  std::vector<Param> params;
  std::string body;
  std::string decls = "";  // file-scope declarations the kernel uses (tables)
  int min_blocks = 0;       // __launch_bounds__ minimum resident blocks an SM, 0 for none
};

// theta^(-2i/hd) for i < hd/2, computed in double here, as a table in device memory.
std::string inv_freq_table(const std::string& name, int64_t head_dim, double theta) {
  std::ostringstream os;
  os.precision(17);
  os << "APRC_TABLE double " << name << "[" << head_dim / 2 << "] = {";
  for (int64_t i = 0; i < head_dim / 2; ++i) os << (i ? ", " : "") << std::pow(theta, -2.0 * double(i) / double(head_dim));
  os << "};\n";
  return os.str();
}

int rope_threads(int64_t pairs) { return static_cast<int>(std::min<int64_t>(1024, (pairs + 31) / 32 * 32)); }

[[noreturn]] void unsupported(const KernelSpec& spec, const std::string& what) {
  throw_bad_input("cuda codegen: kernel " + kernel_name(spec, Variant::Plain) + ": " + what);
}

std::string flt(double v) {
  std::ostringstream os;
  os.precision(9);
  os << std::scientific << v << "f";
  return os.str();
}

// 0 f32, 1 f16, 2 bf16: the element code of 1-D float vectors (gamma, biases) and KV caches.
int elem_code(const KernelSpec& spec, DType d, const char* what) {
  switch (d) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 2;
    default: unsupported(spec, std::string(what) + " of dtype " + dtype_name(d) + " (f32, f16 or bf16 only)");
  }
}

// The device adapter type that reads a [rows, cols] weight (weights.cuh).
std::string adapter(const KernelSpec& spec, const WeightDesc& w) {
  switch (w.layout) {
    case WeightLayout::CudaQ4K: return "aprc_w_q4k";
    case WeightLayout::CudaQ5K: return "aprc_w_q5k";
    case WeightLayout::CudaQ6K: return "aprc_w_q6k";
    case WeightLayout::CudaQ8_0: return "aprc_w_q8_0";
    case WeightLayout::CudaQ5_0: return "aprc_w_q5_0";
    case WeightLayout::RowMajor: {
      if (w.dtype == DType::FP8_E4M3) {  // fp8.cuh: 16-byte chunks of codes
        if (w.cols % 16 != 0) unsupported(spec, "fp8 weights need rows of a multiple of 16");
        return std::string("aprc_w_fp8<") + (w.scales == ScaleGranularity::PerChannel ? "true" : "false") + ">";
      }
      const int q = w.dtype == DType::Q4_K ? 0 : w.dtype == DType::Q5_K ? 1 : w.dtype == DType::Q6_K ? 2 :
                    w.dtype == DType::Q8_0 ? 3 : w.dtype == DType::Q5_0 ? 4 : w.dtype == DType::AprQ4 ? 5 : -1;
      if (q >= 0) return "aprc_w_rowq<" + std::to_string(q) + ">";
      const int e = w.dtype == DType::F32 ? 0 : w.dtype == DType::F16 ? 1 : w.dtype == DType::BF16 ? 2 : -1;
      if (e < 0) break;
      const int per16 = e == 0 ? 4 : 8;
      return "aprc_w_float<" + std::to_string(e) + ", " + (w.cols % per16 == 0 ? "true" : "false") + ">";
    }
    default:
      break;
  }
  unsupported(spec, std::string("no CUDA reader for ") + dtype_name(w.dtype) + " weights in layout " +
                        layout_name(w.layout));
}

bool mma_capable(const WeightDesc& w) {
  switch (w.layout) {
    case WeightLayout::CudaQ4K:
    case WeightLayout::CudaQ5K:
    case WeightLayout::CudaQ6K:
    case WeightLayout::CudaQ8_0:
    case WeightLayout::CudaQ5_0:
      return w.cols % 32 == 0;
    case WeightLayout::RowMajor:
      return (w.dtype == DType::BF16 || w.dtype == DType::FP8_E4M3) && w.cols % 32 == 0;
    default:
      return false;
  }
}

// Quantized weights take int8-split activations (aprc_xq); float ones take the float row.
bool is_intx(const WeightDesc& w) { return w.layout != WeightLayout::RowMajor; }

std::string num(int64_t v) { return std::to_string(v); }

// ---- Linear ------------------------------------------------------------------------------------------

struct LinearShape {
  int64_t K = 0;
  int nw = 0;
  bool swiglu = false, residual = false;
  std::vector<std::string> types;
  int gamma_elem = 0;
  std::vector<int> bias_elem;
};

LinearShape linear_shape(const KernelSpec& spec) {
  LinearShape s;
  s.nw = static_cast<int>(spec.weights.size());
  if (s.nw == 0) unsupported(spec, "a linear without weights");
  s.K = spec.weights[0].cols;
  for (const auto& w : spec.weights) {
    if (w.cols != s.K) unsupported(spec, "weights of one linear must share their input width");
    if (w.rows <= 0 || w.cols <= 0) unsupported(spec, "empty weight");
    s.types.push_back(adapter(spec, w));
  }
  s.swiglu = spec.epilogue == Epilogue::SwiGLU;
  s.residual = spec.epilogue == Epilogue::Residual;
  if (s.swiglu && (s.nw != 2 || spec.weights[0].rows != spec.weights[1].rows))
    unsupported(spec, "a SwiGLU epilogue needs two weights of equal shape (gate, up)");
  if (s.residual && s.nw != 1) unsupported(spec, "a residual epilogue needs exactly one weight");
  if (!spec.biases.empty() && spec.biases.size() != spec.weights.size())
    unsupported(spec, "biases must be absent or one per weight");
  for (size_t i = 0; i < spec.biases.size(); ++i) {
    if (spec.biases[i].cols != spec.weights[i].rows && spec.biases[i].rows * spec.biases[i].cols != spec.weights[i].rows)
      unsupported(spec, "bias " + std::to_string(i) + " does not match its weight's rows");
    s.bias_elem.push_back(elem_code(spec, spec.biases[i].dtype, "bias"));
  }
  if (spec.has_norm) s.gamma_elem = elem_code(spec, spec.norm.dtype, "norm weight");
  if (s.K > 60000) unsupported(spec, "input width " + num(s.K) + " exceeds what one block stages (60000)");
  return s;
}

std::vector<Param> linear_params(const KernelSpec& spec, const LinearShape& s) {
  std::vector<Param> p{{"const float* __restrict__", "x"}};
  if (spec.has_norm) p.push_back({"const void* __restrict__", "gamma"});
  if (s.residual) p.push_back({"const float*", "res"});
  for (int i = 0; i < s.nw; ++i) p.push_back({"const void* __restrict__", "w" + num(i)});
  if (!spec.biases.empty())
    for (int i = 0; i < s.nw; ++i) p.push_back({"const void* __restrict__", "b" + num(i)});
  const int nout = (s.swiglu || s.residual) ? 1 : s.nw;
  for (int i = 0; i < nout; ++i) p.push_back({"float*", "o" + num(i)});
  return p;
}

std::string bias_term(const KernelSpec& spec, const LinearShape& s, int i, const std::string& row) {
  if (spec.biases.empty()) return "";
  return " + aprc_vec<" + num(s.bias_elem[i]) + ">(b" + num(i) + ", " + row + ")";
}

std::string adapters_init(const KernelSpec& spec, const LinearShape& s) {
  std::string t;
  for (int i = 0; i < s.nw; ++i)
    t += "  " + s.types[i] + " W" + num(i) + ";\n  W" + num(i) + ".init(w" + num(i) + ", " + num(spec.weights[i].rows) +
         ", K);\n";
  return t;
}

// The statement that stores one output row value; `v0` (and `v1` for SwiGLU) hold the dot products
// times 1/rms, `tok` and `row` index it, `i` is the weight.
std::string store_stmt(const KernelSpec& spec, const LinearShape& s, int i, const std::string& indent) {
  const std::string N = num(spec.weights[i].rows);
  const std::string at = "(size_t)tok * " + N + " + row";
  if (s.swiglu)
    return indent + "o0[" + at + "] = aprc_silu(v0" + bias_term(spec, s, 0, "row") + ") * (v1" +
           bias_term(spec, s, 1, "row") + ");\n";
  if (s.residual) return indent + "o0[" + at + "] = res[" + at + "] + (v0" + bias_term(spec, s, 0, "row") + ");\n";
  return indent + "o" + num(i) + "[" + at + "] = v0" + bias_term(spec, s, i, "row") + ";\n";
}

// At most one persistent block of 16 warps an SM of a 132-SM part (the register file holds one such
// block at 128 registers a thread): each SM stages and quantizes x once (two blocks an SM did it
// twice; for the 18944-wide down projection that was a tenth of the kernel's time, H100 run 10).
constexpr int64_t kGemvMaxBlocks = 132;
constexpr int kGemvMaxWarps = 16;
// One row a task (R = 1) needs fewer registers (64-72 for Q4_K/Q6_K at U = 4): blocks of up to 28 warps
// (896 threads, 73 registers a thread).
constexpr int kGemvMaxWarpsOneRow = 28;

struct GemvPlan {
  int warps = kGemvMaxWarps, R = 4, U = 2;
  std::vector<int64_t> rows;  // per output group (one per weight; one for SwiGLU)
  std::vector<int64_t> group_warps;  // per output group, when the warps are split by group (else empty),
  std::vector<int> group_R, group_U;  // and the rows and chunk loads a lane of each group's steps
  int64_t total_rows = 0, total_tasks = 0, blocks = 0;
  bool intx = false, floatx = false;  // which activation forms the weights read
  int64_t shared_bytes = 0;
};

GemvPlan gemv_plan(const KernelSpec& spec, const LinearShape& s) {
  GemvPlan g;
  const int groups = s.swiglu ? 1 : s.nw;
  auto count = [&](int R) {
    int64_t t = 0;
    for (int i = 0; i < groups; ++i) t += (spec.weights[i].rows + R - 1) / R;
    return t;
  };
  // More rows per warp share each x load (less shared-memory traffic); fewer give every warp of the
  // persistent grid work. Keep at least two unless the matrix is tiny. (Choosing R = 4 wherever the
  // busiest warp then reads no more rows, e.g. qkv of 7B as one task of 4 rows a warp on 9-warp blocks
  // instead of up to 2 tasks of 2, was slower on an H100: 289-296 against 305-308 tok/s, run 10.)
  const int64_t slots = kGemvMaxBlocks * kGemvMaxWarps;
  g.R = s.swiglu ? 2 : 4;
  while (g.R > 2 && count(g.R) < 2 * slots) g.R /= 2;
  if (count(2) < slots / 4) g.R = 1;
  // A single weight without a norm prologue whose rows fit one wave of 28-warp blocks (o_proj and
  // down of 7B: 3584 rows): one row a warp, twice the warps in flight of R = 2. The GEMV is bound by
  // latency at 16 warps an SM; this gave 328 tok/s against 313-317 on an H100 (run 10). Kernels with
  // several weights or a norm need more registers than 73 at R = 1 and stay at R = 2.
  else if (g.R == 2 && !s.swiglu && s.nw == 1 && !spec.has_norm && count(1) <= kGemvMaxBlocks * kGemvMaxWarpsOneRow)
    g.R = 1;
  // 4-8 chunk loads in flight a lane: U = 2 with R = 2 beat U = 4 (fewer registers, H100 run 10)
  g.U = g.R == 1 ? 4 : 2;
  for (int i = 0; i < groups; ++i) g.rows.push_back(spec.weights[i].rows);
  for (int64_t n : g.rows) g.total_rows += n;
  g.total_tasks = count(g.R);
  // Persistent blocks (at most one per SM) each stage x once; every warp then takes a contiguous run
  // of rows, the runs differing by at most one row (aprc_warp_rows), in steps of R rows with a shorter
  // last step (gate/up of 7B: 8-9 rows a warp, not 4 or 5 tasks of 2; H100 run 12). Fewer tasks than
  // warp slots: smaller blocks on every SM rather than full ones on some (3584 rows at R = 2: 128
  // blocks of 14 warps, not 112 of 16 with 20 SMs idle).
  const int max_warps = g.R == 1 ? kGemvMaxWarpsOneRow : kGemvMaxWarps;
  g.warps = static_cast<int>(std::clamp<int64_t>((g.total_tasks + kGemvMaxBlocks - 1) / kGemvMaxBlocks, 4, max_warps));
  g.blocks = std::min<int64_t>((g.total_tasks + g.warps - 1) / g.warps, kGemvMaxBlocks);
  // Several weights with few rows a warp (q/k/v of 7B: 4608 rows on 2112 warps): the warps split by
  // weight (each added warp to the weight whose warps have the most bytes to read), so that no warp's
  // run crosses from one weight to the next, and each warp takes its rows in one step (R of that
  // weight: the most a warp of it has, up to 4), where 2 or 3 rows in steps of 2 took two rounds of
  // loads for some warps, the kernel's tail. Steps of 3 or 4 rows load one chunk a lane at a time
  // (U = 1): at U = 2 a kernel with a Q6_K weight spilled. 7B q/k/v on an H100: 198 against 215 us
  // for 14 calls, decode +0.7% (session 15, call 3).
  if (groups > 1 && g.blocks * g.warps >= groups) {
    const int64_t W = g.blocks * g.warps;
    std::vector<double> row_bytes;
    for (int i = 0; i < groups; ++i)
      row_bytes.push_back(static_cast<double>(format_info(spec.weights[i].dtype).block_bytes) /
                          format_info(spec.weights[i].dtype).block_weights);
    std::vector<int64_t> gw(static_cast<size_t>(groups), 1);
    auto warp_rows = [&](int i) { return (g.rows[i] + gw[i] - 1) / gw[i]; };  // the most a warp of weight i has
    for (int64_t w = groups; w < W; ++w) {
      int worst = 0;
      for (int i = 1; i < groups; ++i)
        if (static_cast<double>(warp_rows(i)) * row_bytes[i] > static_cast<double>(warp_rows(worst)) * row_bytes[worst])
          worst = i;
      ++gw[static_cast<size_t>(worst)];
    }
    int64_t most = 0;
    for (int i = 0; i < groups; ++i) most = std::max(most, warp_rows(i));
    if (most <= 4) {
      g.group_warps = gw;
      for (int i = 0; i < groups; ++i) {
        g.group_R.push_back(static_cast<int>(warp_rows(i)));
        g.group_U.push_back(g.group_R.back() >= 3 ? 1 : g.U);
      }
    }
  }
  for (const auto& w : spec.weights) (is_intx(w) ? g.intx : g.floatx) = true;
  if (g.intx && s.K % 32 != 0) unsupported(spec, "quantized weights need rows of a multiple of 32");
  // aprc_xstage_at: the float row (padded), then 112 bytes a 32-chunk for the int8 split and its float4
  g.shared_bytes = (g.floatx ? 4 * (s.K + 4 * ((s.K + 31) / 32)) : 0) + (g.intx ? 112 * (s.K / 32) : 0);
  return g;
}

Kernel emit_linear_gemv(const KernelSpec& spec, const std::string& name) {
  const LinearShape s = linear_shape(spec);
  const GemvPlan g = gemv_plan(spec, s);
  Kernel k{name, 32 * g.warps, linear_params(spec, s), ""};
  k.min_blocks = 1;  // one persistent block an SM: 128 registers a thread
  const int groups = s.swiglu ? 1 : s.nw;
  std::ostringstream b;
  b << "  constexpr int K = " << s.K << ";\n"
    << "  constexpr int R = " << g.R << ", U = " << g.U << ", WARPS = " << g.warps << ";\n"
    << "  APRC_DYN_SHARED(aprc_smem);\n"
    << "  APRC_SHARED float scratch[32];\n"
    << "  const aprc_xstage st = aprc_xstage_at(aprc_smem, K, " << (g.floatx ? "true" : "false") << ");\n"
    << "  const int T = (int)s[0];\n"
    << "  const int lane = threadIdx.x & 31;\n"
    << "  int rb, re;  // this warp's rows, over the output groups one after another\n";
  if (g.group_warps.empty()) {
    b << "  aprc_warp_rows(blockIdx.x * WARPS + (threadIdx.x >> 5), " << g.blocks * g.warps << ", " << g.total_rows
      << ", rb, re);\n";
  } else {  // group i's rows over its own warps
    b << "  {\n    const int w = blockIdx.x * WARPS + (threadIdx.x >> 5);\n";
    int64_t w0 = 0, base = 0;
    for (size_t i = 0; i < g.group_warps.size(); ++i) {
      b << "    " << (i ? "else " : "") << "if (w < " << w0 + g.group_warps[i] << ") {\n"
        << "      aprc_warp_rows(w - " << w0 << ", " << g.group_warps[i] << ", " << g.rows[i] << ", rb, re);\n"
        << "      rb += " << base << ", re += " << base << ";\n    }\n";
      w0 += g.group_warps[i];
      base += g.rows[i];
    }
    b << "    else rb = re = " << g.total_rows << ";\n  }\n";
  }
  b << adapters_init(spec, s);
  // R and U of weight i's steps in the kernel's source: its own when the warps split by weight
  auto step_R = [&](int i) { return g.group_R.empty() ? std::string("R") : num(g.group_R[static_cast<size_t>(i)]); };
  auto step_U = [&](int i) { return g.group_U.empty() ? std::string("U") : num(g.group_U[static_cast<size_t>(i)]); };
  {  // L2 prefetch of this warp's first rows: weights only, so it may run before the previous kernel ends
    int64_t base = 0;
    b << "  if (lane == 0) {\n";
    for (int i = 0; i < groups; ++i) {
      b << "    {\n"
        << "      const int lo = aprc_max(rb, " << base << "), hi = aprc_min(aprc_min(re, rb + " << step_R(i) << "), "
        << base + g.rows[i] << ");\n"
        << "      if (lo < hi) {\n"
        << "        W" << i << ".prefetch(lo - " << base << ", hi - lo);\n";
      if (s.swiglu) b << "        W1.prefetch(lo - " << base << ", hi - lo);\n";
      b << "      }\n"
        << "    }\n";
      base += g.rows[i];
    }
    b << "  }\n";
  }
  b << "  aprc_allow_next_grid();\n"
    << "  aprc_wait_prior_grid();\n"
    << "  for (int tok = 0; tok < T; ++tok) {\n";
  if (g.intx)
    b << "    const float inv = aprc_stage_row_q<K, " << (spec.has_norm ? "true" : "false") << ", " << s.gamma_elem << ", "
      << (g.floatx ? "true" : "false") << ", WARPS * 32>(x + (size_t)tok * K, " << (spec.has_norm ? "gamma" : "nullptr") << ", "
      << flt(spec.eps) << ", st, scratch);\n";
  else
    b << "    const float inv = aprc_stage_row<K, " << (spec.has_norm ? "true" : "false") << ", " << s.gamma_elem
      << ", false>(x + (size_t)tok * K, " << (spec.has_norm ? "gamma" : "nullptr") << ", " << flt(spec.eps)
      << ", st.xs, nullptr, scratch);\n";
  int64_t base = 0;
  for (int i = 0; i < groups; ++i) {
    const std::string Ti = s.types[i], Wi = "W" + num(i);
    const std::string M = s.swiglu ? "2" : "1";
    const std::string R = step_R(i), U = step_U(i);
    b << "    {  // rows of weight " << i << "\n"
      << "      const int lo = aprc_max(rb, " << base << ") - " << base << ", hi = aprc_min(re, " << base + g.rows[i]
      << ") - " << base << ";\n"
      << "      auto store = [&](int row0, int nrows, const float (&acc)[" << M << "][" << R << "]) {\n"
      << "#pragma unroll\n"
      << "        for (int r = 0; r < " << R << "; ++r)\n"
      << "          if (lane == r && r < nrows) {\n"
      << "            const int row = row0 + r;\n"
      << "            const float v0 = acc[0][r] * inv;\n";
    if (s.swiglu) b << "            const float v1 = acc[1][r] * inv;\n";
    b << store_stmt(spec, s, i, "            ") << "          }\n"
      << "      };\n"
      << "      if (lo < hi) {\n";
    const std::string T1 = s.swiglu ? s.types[1] : Ti, W1 = s.swiglu ? "W1" : Wi;
    b << "        aprc_gemv_steps<" << Ti << ", " << T1 << ", " << M << ", " << R << ", " << U << ">(" << Wi << ", " << W1 << ", lo, hi, K / " << Ti
      << "::CW, st, store);\n";
    b << "      }\n"
      << "    }\n";
    base += g.rows[i];
  }
  b << "    aprc_sync();\n"
    << "  }\n";
  k.body = b.str();
  return k;
}

// Rows of one prefill tile and threads of its block: aprc_fp8_mma_tile (fp8.cuh) covers 128 rows with
// 8 warps, aprc_mma_tile 64 with 4, aprc_simt_tile 64 with 8.
int64_t tile_rows(Variant v) { return v == Variant::Fp8Mma ? 128 : 64; }
int tile_threads(Variant v) { return v == Variant::Mma ? 128 : 256; }

// Prefill: grid.x = token tiles of 64, grid.y = tile_rows tiles of every output group in turn. The
// variant picks the tile: aprc_mma_tile, aprc_fp8_mma_tile (fp8.cuh) or aprc_simt_tile.
Kernel emit_linear_tiled(const KernelSpec& spec, const std::string& name, Variant variant) {
  const LinearShape s = linear_shape(spec);
  const bool mma = variant == Variant::Mma, fp8 = variant == Variant::Fp8Mma;
  const int64_t rows_per_tile = tile_rows(variant);
  Kernel k{name, tile_threads(variant), linear_params(spec, s), ""};
  std::ostringstream b;
  b << "  constexpr int K = " << s.K << ";\n"
    << (mma ? "  APRC_SHARED aprc_mma_smem sm;\n"
            : fp8 ? "  APRC_SHARED aprc_fp8_smem sm;\n" : "  APRC_SHARED aprc_simt_smem sm;\n")
    << "  const int T = (int)s[0];\n"
    << "  const int m0 = blockIdx.x * 64;\n"
    << "  const int tile = blockIdx.y;\n"
    << "  if (m0 >= T) return;\n"
    << adapters_init(spec, s) << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n";
  const std::string tile_fn = mma ? "aprc_mma_tile" : fp8 ? "aprc_fp8_mma_tile" : "aprc_simt_tile";
  const std::string norm = spec.has_norm ? "true" : "false";
  const std::string gamma = spec.has_norm ? "gamma" : "nullptr";
  int64_t base = 0;
  const int groups = s.swiglu ? 1 : s.nw;
  for (int i = 0; i < groups; ++i) {
    const int64_t tiles = (spec.weights[i].rows + rows_per_tile - 1) / rows_per_tile;
    const std::string N = num(spec.weights[i].rows), Ti = s.types[i], Wi = "W" + num(i);
    const std::string T1 = s.swiglu ? s.types[1] : Ti, W1 = s.swiglu ? "W1" : Wi;
    b << "  if (tile >= " << base << " && tile < " << base + tiles << ") {  // rows of weight " << i << "\n"
      << "    " << tile_fn << "<" << Ti << ", " << T1 << ", " << (s.swiglu ? 2 : 1) << ", K, " << norm << ", "
      << s.gamma_elem << ">(" << Wi << ", " << W1 << ", (tile - " << base << ") * " << rows_per_tile << ", " << N
      << ", x, T, m0, " << gamma
      << ", " << flt(spec.eps) << ", sm,\n"
      << "        [&](int tok, int row, const float* v) {\n"
      << "          const float v0 = v[0];\n";
    if (s.swiglu) b << "          const float v1 = v[1];\n";
    b << store_stmt(spec, s, i, "          ") << "        });\n"
      << "  }\n";
    base += tiles;
  }
  k.body = b.str();
  return k;
}

// ---- Attention ---------------------------------------------------------------------------------------

void check_rope_dims(const KernelSpec& spec, int64_t heads) {
  if (heads <= 0 || spec.head_dim <= 0 || spec.head_dim % 2 != 0)
    unsupported(spec, "rope needs positive heads and an even head_dim");
}

void check_attention(const KernelSpec& spec) {
  if (spec.heads <= 0 || spec.kv_heads <= 0 || spec.heads % spec.kv_heads != 0)
    unsupported(spec, "heads must be a positive multiple of kv_heads");
  if (spec.head_dim <= 0 || spec.head_dim > 512) unsupported(spec, "head_dim must be in 1..512");
}

std::string attention_consts(const KernelSpec& spec) {
  std::ostringstream b;
  b << "  constexpr int H = " << spec.heads << ", KVH = " << spec.kv_heads << ", HD = " << spec.head_dim
    << ", G = H / KVH, DPL = (HD + 31) / 32;\n"
    << "  constexpr int CE = " << elem_code(spec, spec.cache_dtype, "kv cache") << ";\n"
    << "  const float scale = " << flt(spec.scale) << ";\n"
    << "  const int T = (int)s[0], pos = (int)s[1];\n"
    << "  const int lane = threadIdx.x & 31;\n";
  return b.str();
}

const std::vector<Param> kAttentionParams{{"const float* __restrict__", "q"},
                                          {"const void* __restrict__", "ck"},
                                          {"const void* __restrict__", "cv"},
                                          {"float* __restrict__", "out"}};

constexpr int kAttnPrefillTokens = 4;  // query tokens a prefill attention block
int attention_warps(bool decode) { return decode ? 8 : 4; }  // decode: a warp for each head of a kv group

int64_t attention_smem(const KernelSpec& spec, int qt) {
  const int64_t G = spec.heads / spec.kv_heads, HD = spec.head_dim;
  return 4 * (qt * G * HD + 32 * (HD + 1) + 32 * HD);  // aprc_attn_smem
}

// With spec.rope (a decode step that fuse_decode_steps made of rope_qk_kv_append + attention), q and
// k are rotated and k, v appended first, by the same kernel (aprc_attn_rope), with the angles of the
// token's position computed before the wait for the previous kernel.
const std::vector<Param> kRopeAttentionParams{{"float* __restrict__", "q"},
                                              {"void* __restrict__", "ck"},
                                              {"void* __restrict__", "cv"},
                                              {"float* __restrict__", "out"},
                                              {"float* __restrict__", "k"},
                                              {"const float* __restrict__", "v"}};

Kernel emit_attention(const KernelSpec& spec, const std::string& name, bool decode) {
  check_attention(spec);
  const int vec = spec.cache_dtype == DType::F32 ? 4 : 8;
  if (spec.head_dim % vec != 0) unsupported(spec, "head_dim must be a multiple of " + std::to_string(vec) + " for this cache type");
  if (spec.rope) {
    if (!decode) unsupported(spec, "the rope is fused into the decode attention only");
    check_rope_dims(spec, spec.heads);
  }
  const int warps = attention_warps(decode);
  Kernel k{name, 32 * warps, spec.rope ? kRopeAttentionParams : kAttentionParams, ""};
  const int qt = decode ? 1 : kAttnPrefillTokens;
  const int S = decode ? kAttnDecodeSplits : 0;
  std::ostringstream b;
  b << attention_consts(spec) << "  constexpr int QT = " << qt << ", S = " << S << ", W = " << warps << ";\n"
    << "  APRC_DYN_SHARED(aprc_smem);\n"
    << "  auto& sm = *reinterpret_cast<aprc_attn_smem<H, KVH, HD, QT>*>(aprc_smem);\n"
    << "  (void)lane;\n";
  if (spec.rope) {
    k.decls = inv_freq_table(name + "_inv_freq", spec.head_dim, spec.theta);
    b << "  APRC_SHARED float cs[HD / 2], sn[HD / 2];\n"
      << "  aprc_rope_angles<HD>(pos + (int)blockIdx.z, " << name << "_inv_freq, cs, sn);\n"
      << "  aprc_sync();\n";
  }
  b << "  aprc_allow_next_grid();\n"
    << "  aprc_wait_prior_grid();\n";
  if (spec.rope)
    b << "  aprc_attention<H, KVH, HD, CE, QT, S, W, true>(q, ck, cv, out, T, pos, scale, ws, sm, "
         "aprc_attn_rope{q, k, v, ck, cv, cs, sn});\n";
  else
    b << "  aprc_attention<H, KVH, HD, CE, QT, S, W>(q, ck, cv, out, T, pos, scale, ws, sm);\n";
  k.body = b.str();
  return k;
}

// ---- the row-wise kinds ----------------------------------------------------------------------------------

Kernel emit_rms_norm(const KernelSpec& spec, const std::string& name) {
  if (spec.weights.size() != 1) unsupported(spec, "rms_norm takes one gamma");
  const int64_t H = spec.cols > 0 ? spec.cols : spec.weights[0].cols;
  Kernel k{name, 256, {{"const float* __restrict__", "x"}, {"const void* __restrict__", "gamma"}, {"float* __restrict__", "out"}}, ""};
  std::ostringstream b;
  b << "  constexpr int H = " << H << ";\n"
    << "  APRC_SHARED float scratch[32];\n"
    << "  const int t = blockIdx.x;\n"
    << "  if (t >= (int)s[0]) return;\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  aprc_rms_norm_row<H, " << elem_code(spec, spec.weights[0].dtype, "norm weight") << ">(x + (size_t)t * H, gamma, "
    << flt(spec.eps) << ", out + (size_t)t * H, scratch);\n";
  k.body = b.str();
  return k;
}

Kernel emit_rope(const KernelSpec& spec, const std::string& name) {
  check_rope_dims(spec, spec.heads);
  Kernel k{name, rope_threads(spec.heads * spec.head_dim / 2), {{"float* __restrict__", "x"}}, ""};
  k.decls = inv_freq_table(name + "_inv_freq", spec.head_dim, spec.theta);
  std::ostringstream b;
  b << "  const int t = blockIdx.x;\n"
    << "  if (t >= (int)s[0]) return;\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  aprc_rope_row<" << spec.heads << ", " << spec.head_dim << ">(x + (size_t)t * " << spec.heads * spec.head_dim
    << ", (int)s[1] + t, " << name << "_inv_freq);\n";
  k.body = b.str();
  return k;
}

// KvAppend with q (heads > 0): both rotations and the append in one kernel, one block a token; the
// angles once per frequency in shared memory, computed before the wait for the previous kernel.
Kernel emit_rope_qk_kv_append(const KernelSpec& spec, const std::string& name) {
  check_rope_dims(spec, spec.kv_heads);
  if (!spec.rope) unsupported(spec, "q is rotated only with k (rope)");
  Kernel k{name, rope_threads((spec.heads + spec.kv_heads) * spec.head_dim / 2),
           {{"float* __restrict__", "k"},
            {"const float* __restrict__", "v"},
            {"void* __restrict__", "ck"},
            {"void* __restrict__", "cv"},
            {"float* __restrict__", "q"}},
           ""};
  k.decls = inv_freq_table(name + "_inv_freq", spec.head_dim, spec.theta);
  const int64_t hd = spec.head_dim, w = spec.kv_heads * hd;
  std::ostringstream b;
  b << "  APRC_SHARED float cs[" << hd / 2 << "], sn[" << hd / 2 << "];\n"
    << "  const int t = blockIdx.x;\n"
    << "  if (t >= (int)s[0]) return;\n"
    << "  const int p = (int)s[1] + t;\n"
    << "  aprc_rope_angles<" << hd << ">(p, " << name << "_inv_freq, cs, sn);\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  aprc_sync();\n"
    << "  aprc_rope_qk_kv_append_row<" << spec.heads << ", " << spec.kv_heads << ", " << hd << ", "
    << elem_code(spec, spec.cache_dtype, "kv cache") << ">(q + (size_t)t * " << spec.heads * hd << ", k + (size_t)t * " << w
    << ", v + (size_t)t * " << w << ", ck, cv, p, cs, sn);\n";
  k.body = b.str();
  return k;
}

Kernel emit_kv_append(const KernelSpec& spec, const std::string& name) {
  if (spec.heads > 0) return emit_rope_qk_kv_append(spec, name);
  check_rope_dims(spec, spec.kv_heads);
  Kernel k{name, rope_threads(spec.kv_heads * spec.head_dim / 2),
           {{"float* __restrict__", "k"}, {"const float* __restrict__", "v"}, {"void* __restrict__", "ck"}, {"void* __restrict__", "cv"}},
           ""};
  k.decls = inv_freq_table(name + "_inv_freq", spec.head_dim, spec.theta);
  const int64_t w = spec.kv_heads * spec.head_dim;
  std::ostringstream b;
  b << "  const int t = blockIdx.x;\n"
    << "  if (t >= (int)s[0]) return;\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  aprc_kv_append_row<" << spec.kv_heads << ", " << spec.head_dim << ", " << (spec.rope ? "true" : "false") << ", "
    << elem_code(spec, spec.cache_dtype, "kv cache") << ">(k + (size_t)t * " << w << ", v + (size_t)t * " << w
    << ", ck, cv, (int)s[1] + t, " << name << "_inv_freq);\n";
  k.body = b.str();
  return k;
}

Kernel emit_embedding(const KernelSpec& spec, const std::string& name) {
  if (spec.weights.size() != 1) unsupported(spec, "embedding takes one table");
  const WeightDesc& w = spec.weights[0];
  Kernel k{name, 256, {{"const int* __restrict__", "ids"}, {"const void* __restrict__", "table"}, {"float* __restrict__", "out"}}, ""};
  std::ostringstream b;
  b << "  constexpr int V = " << w.rows << ", H = " << w.cols << ";\n"
    << "  const int t = blockIdx.x;\n"
    << "  if (t >= (int)s[0]) return;\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  const int id = ids[t];\n"
    << "  float* o = out + (size_t)t * H;\n"
    << "  if (id < 0 || id >= V) {  // never read outside the table; make the bad id visible\n"
    << "    for (int i = threadIdx.x; i < H; i += blockDim.x) o[i] = aprc_as_float(0x7fc00000u);\n"
    << "    return;\n"
    << "  }\n";
  auto blocks = [&](const char* st, const char* fn, int qk) {
    if (w.cols % qk != 0) unsupported(spec, "embedding row is not a whole number of blocks");
    b << "  aprc_embed_blocks<" << st << ", " << fn << ", " << qk << ">(table, id, H, o);\n";
  };
  if (w.layout == WeightLayout::RowMajor) {
    switch (w.dtype) {
      case DType::F32: b << "  aprc_embed_chunks(aprc_w_float<0, false>{(const unsigned char*)table, H}, id, H, o);\n"; break;
      case DType::F16: b << "  aprc_embed_chunks(aprc_w_float<1, false>{(const unsigned char*)table, H}, id, H, o);\n"; break;
      case DType::BF16: b << "  aprc_embed_chunks(aprc_w_float<2, false>{(const unsigned char*)table, H}, id, H, o);\n"; break;
      case DType::Q8_0: blocks("aprc_block_q8_0", "aprc_dequant_q8_0", 32); break;
      case DType::Q5_0: blocks("aprc_block_q5_0", "aprc_dequant_q5_0", 32); break;
      case DType::Q4_K: blocks("aprc_block_q4_k", "aprc_dequant_q4_k", 256); break;
      case DType::Q5_K: blocks("aprc_block_q5_k", "aprc_dequant_q5_k", 256); break;
      case DType::Q6_K: blocks("aprc_block_q6_k", "aprc_dequant_q6_k", 256); break;
      case DType::AprQ4: blocks("aprc_block_aprq4", "aprc_dequant_aprq4", 32); break;
      default: unsupported(spec, std::string("embedding tables of dtype ") + dtype_name(w.dtype));
    }
  } else {
    b << "  " << adapter(spec, w) << " W;\n"
      << "  W.init(table, V, H);\n"
      << "  aprc_embed_chunks(W, id, H, o);\n";
  }
  k.body = b.str();
  return k;
}

Kernel emit_elementwise(const KernelSpec& spec, const std::string& name) {
  if (spec.cols <= 0) unsupported(spec, "elementwise op without a row width");
  const bool unary = spec.kind == KernelKind::Silu;
  std::vector<Param> p;
  if (unary) p = {{"const float* __restrict__", "a"}, {"float* __restrict__", "out"}};
  else p = {{"const float*", "a"}, {"const float*", "b"}, {"float*", "out"}};  // out may alias a or b
  Kernel k{name, 256, p, ""};
  const char* expr = spec.kind == KernelKind::Silu ? "aprc_silu(a[i])"
                     : spec.kind == KernelKind::Mul ? "a[i] * b[i]"
                                                    : "a[i] + b[i]";
  std::ostringstream b;
  b << "  const size_t n = (size_t)s[0] * " << spec.cols << ";\n"
    << "  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;\n"
    << "  aprc_allow_next_grid();\n  aprc_wait_prior_grid();\n"
    << "  if (i < n) out[i] = " << expr << ";\n";
  k.body = b.str();
  return k;
}

Kernel emit_kernel(const KernelRef& ref) {
  const KernelSpec& spec = ref.spec;
  switch (spec.kind) {
    case KernelKind::Linear:
      if (ref.variant == Variant::Gemv) return emit_linear_gemv(spec, ref.name);
      return emit_linear_tiled(spec, ref.name, ref.variant);
    case KernelKind::Attention:
      return emit_attention(spec, ref.name, ref.variant == Variant::AttnDecode);
    case KernelKind::RmsNorm: return emit_rms_norm(spec, ref.name);
    case KernelKind::Rope: return emit_rope(spec, ref.name);
    case KernelKind::KvAppend: return emit_kv_append(spec, ref.name);
    case KernelKind::Embedding: return emit_embedding(spec, ref.name);
    case KernelKind::Silu:
    case KernelKind::Mul:
    case KernelKind::Add: return emit_elementwise(spec, ref.name);
  }
  unsupported(spec, "unknown kernel kind");
}

std::string signature(const Kernel& k) {
  const std::string bounds = k.min_blocks ? num(k.threads) + ", " + num(k.min_blocks) : num(k.threads);
  std::string t = "APRC_KERNEL void APRC_BOUNDS(" + bounds + ") " + k.name + "(";
  for (const auto& p : k.params) t += p.type + " " + p.name + ", ";
  return t + "const aprc_i64* __restrict__ s, unsigned char* __restrict__ ws)";
}

// The emulator calls kernels through cuLaunchKernel-style parameter arrays.
std::string trampoline(const Kernel& k) {
  std::string t = "static void " + k.name + "__emu(void** p) {\n  " + k.name + "(";
  for (size_t i = 0; i < k.params.size(); ++i) {
    std::string type = k.params[i].type;
    if (auto at = type.find(" __restrict__"); at != std::string::npos) type.erase(at);
    t += "(" + type + ")*(void**)p[" + num(static_cast<int64_t>(i)) + "], ";
  }
  const std::string n = num(static_cast<int64_t>(k.params.size()));
  return t + "(const aprc_i64*)*(void**)p[" + n + "], (unsigned char*)*(void**)p[" + n + " + 1]);\n}\n";
}

// The arithmetic peak kernels of every module (abi.h; their code is device/peak.cuh).
std::vector<Kernel> peak_kernels() {
  std::vector<Kernel> out;
  for (const auto& [peak, body] : {std::pair{kPeakFp32, "aprc_peak_fma"}, std::pair{kPeakBf16, "aprc_peak_mma<false>"},
                                   std::pair{kPeakFp8, "aprc_peak_mma<true>"}})
    out.push_back(Kernel{peak.name, kPeakThreads, {{"float* __restrict__", "out"}}, std::string("  ") + body + "(out, s);\n"});
  return out;
}

// The greedy sampler of every module (abi.h; its code is device/sampling.cuh).
Kernel greedy_kernel() {
  return Kernel{kGreedyKernel,
                kGreedyThreads,
                {{"const float* __restrict__", "logits"},
                 {"int* __restrict__", "ids"},
                 {"int* __restrict__", "out"},
                 {"aprc_i64* __restrict__", "table"}},
                "  aprc_wait_prior_grid();\n"
                "  aprc_greedy_sample(logits, (int)s[0], ids, out, (aprc_greedy_ws*)ws, table, (int)s[1]);\n"};
}

// The user's kernel where the generated one would be (cuda.h, KernelOverride), after the generated
// kernel's declaration: under NVRTC (extern "C") a definition with other parameters conflicts with it.
void splice_override(std::string& src, const Kernel& k, const KernelOverride& o) {
  std::string file;  // as a string literal of a #line directive
  for (char c : o.file) file += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  std::string decl = "APRC_KERNEL void " + k.name + "(";
  for (const auto& p : k.params) decl += p.type + " " + p.name + ", ";
  src += "// ---- hand-written kernel " + k.name + " (" + o.file + ") ----\n" + k.decls + "// " + k.name +
         " takes the generated kernel's parameters:\n" + decl + "const aprc_i64* __restrict__ s, unsigned char* __restrict__ ws);\n" +
         "#line 1 \"" + file + "\"\n" + o.text + (o.text.empty() || o.text.back() == '\n' ? "" : "\n");
  const auto line = std::count(src.begin(), src.end(), '\n') + 2;  // the line after the directive
  src += "#line " + std::to_string(line) + " \"aprc_kernels.cu\"\n// ---- end of hand-written kernel " + k.name + " ----\n\n";
}

}  // namespace

std::string emit_module(const std::vector<KernelRef>& kernels, const KernelOverrides& overrides) {
  for (const auto& [name, o] : overrides)
    if (std::none_of(kernels.begin(), kernels.end(), [&](const KernelRef& r) { return r.name == name; }))
      throw_bad_input(o.file + ": overrides kernel '" + name + "', which the cuda target does not have (aprc kernels PLAN lists them)");
  std::string src = "// Generated by aprc (codegen/cuda). Self-contained: formats/blocks.h and the device library\n"
                    "// (codegen/cuda/device) follow, then one kernel per (spec, variant).\n" +
                    device_library_source() + "\n// ---- kernels ----\n\n";
  std::set<std::string> seen;
  std::vector<Kernel> emitted;
  for (const auto& ref : kernels) {
    if (!seen.insert(ref.name).second) continue;
    Kernel k = emit_kernel(ref);
    if (auto o = overrides.find(ref.name); o != overrides.end())
      splice_override(src, k, o->second);
    else
      src += "// " + ref.name + "\n" + k.decls + signature(k) + " {\n" + k.body + "}\n\n";
    emitted.push_back(std::move(k));
  }
  src += "// ---- every module's own: arithmetic peaks (aprc bench --per-kernel), the greedy sampler ----\n\n";
  std::vector<Kernel> own = peak_kernels();
  own.push_back(greedy_kernel());
  for (Kernel& k : own) {
    src += signature(k) + " {\n" + k.body + "}\n\n";
    emitted.push_back(std::move(k));
  }
  std::ostringstream tail;  // the emulator's entry points
  tail << "#if defined(APRC_EMU)\n";
  for (const auto& k : emitted) tail << trampoline(k);
  tail << "static const aprc_emu_kernel aprc_emu_kernel_table[] = {\n";
  for (const auto& k : emitted) tail << "    {\"" << k.name << "\", " << k.name << "__emu},\n";
  tail << "    {nullptr, nullptr}};\n"
       << "APRC_EMU_EXPORT_TABLE(aprc_emu_kernel_table)\n"
       << "#endif\n";
  return src + tail.str();
}

// ---- naming and launch shapes --------------------------------------------------------------------------

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string weight_tag(const WeightDesc& w) {
  std::string t = dtype_name(w.dtype);
  if (w.layout != WeightLayout::RowMajor) t = layout_name(w.layout);
  return t + "_" + num(w.rows) + "x" + num(w.cols);
}

std::string canonical(const KernelSpec& s) {
  std::ostringstream os;
  os.precision(17);
  auto wd = [&](const WeightDesc& w) {
    os << int(w.dtype) << ',' << int(w.layout) << ',' << int(w.scales) << ',' << w.rows << ',' << w.cols << ';';
  };
  os << int(s.kind) << '|';
  for (const auto& w : s.weights) wd(w);
  os << '|';
  for (const auto& w : s.biases) wd(w);
  os << '|' << s.has_norm << ';';
  wd(s.norm);
  os << int(s.epilogue) << ';' << s.eps << ';' << s.heads << ';' << s.kv_heads << ';' << s.head_dim << ';' << s.theta
     << ';' << s.rope << ';' << s.scale << ';' << int(s.cache_dtype) << ';' << s.cols << ';' << s.fp8_activations;
  return os.str();
}

}  // namespace

std::string kernel_name(const KernelSpec& spec, Variant variant) {
  std::string t;
  switch (spec.kind) {
    case KernelKind::Embedding: t = "embedding"; break;
    case KernelKind::RmsNorm: t = "rms_norm_" + num(spec.cols); break;
    case KernelKind::Linear: t = spec.has_norm ? "linear_norm" : "linear"; break;
    case KernelKind::Rope: t = "rope_" + num(spec.heads) + "x" + num(spec.head_dim); break;
    case KernelKind::KvAppend:
      t = spec.heads > 0 ? "rope_qk_kv_append_" + num(spec.heads) + "_" + num(spec.kv_heads) + "x" + num(spec.head_dim)
                         : std::string(spec.rope ? "rope_kv_append_" : "kv_append_") + num(spec.kv_heads) + "x" + num(spec.head_dim);
      break;
    case KernelKind::Attention:
      t = std::string(spec.rope ? "rope_attention_" : "attention_") + num(spec.heads) + "_" + num(spec.kv_heads) + "x" +
          num(spec.head_dim);
      break;
    case KernelKind::Silu: t = "silu_" + num(spec.cols); break;
    case KernelKind::Mul: t = "mul_" + num(spec.cols); break;
    case KernelKind::Add: t = "add_" + num(spec.cols); break;
  }
  if (spec.kind == KernelKind::Linear || spec.kind == KernelKind::Embedding)
    for (const auto& w : spec.weights) t += "_" + weight_tag(w);
  if (spec.kind == KernelKind::Linear) {
    if (!spec.biases.empty()) t += "_bias";
    if (spec.epilogue == Epilogue::SwiGLU) t += "_swiglu";
    if (spec.epilogue == Epilogue::Residual) t += "_residual";
    if (spec.fp8_activations) t += "_fp8act";
  }
  char hash[17];
  snprintf(hash, sizeof hash, "%08x", static_cast<unsigned>(fnv1a(canonical(spec)) & 0xffffffffu));
  return t + "_" + hash + variant_suffix(variant);
}

Variant choose_variant(const KernelSpec& spec, int64_t max_rows) {
  switch (spec.kind) {
    case KernelKind::Linear: {
      // Per-token fp8 activations change the values, so every step that asks for them gets the FP8
      // tile, whatever its row count (a prefill's last-row logits too).
      if (spec.fp8_activations) {
        for (const auto& w : spec.weights)
          if (w.dtype != DType::FP8_E4M3 || w.layout != WeightLayout::RowMajor || w.cols % 32 != 0)
            unsupported(spec, "fp8 activations need fp8 weights (row_major, rows of a multiple of 32)");
        return Variant::Fp8Mma;
      }
      if (max_rows <= 1) return Variant::Gemv;
      for (const auto& w : spec.weights)
        if (!mma_capable(w)) return Variant::Simt;
      return Variant::Mma;
    }
    case KernelKind::Attention:
      return max_rows <= 1 ? Variant::AttnDecode : Variant::AttnPrefill;
    default:
      return Variant::Plain;
  }
}

void assign_cuda_launch(Step& step, int64_t max_tokens) {
  const KernelSpec& spec = step.spec;
  const Expr rows = step.scalars.empty() ? Expr::tokens() : step.scalars[0];
  if (rows.coef_pos != 0) throw_internal("assign_cuda_launch: a step's row count may not depend on pos");
  const int64_t max_rows = rows.coef_T * max_tokens + rows.constant;
  const Variant v = choose_variant(spec, max_rows);
  step.kernel = kernel_name(spec, v);
  step.grid = {Expr::lit(1), Expr::lit(1), Expr::lit(1)};
  step.grid_divisor = {1, 1, 1};
  step.block = {256, 1, 1};
  step.shared_bytes = 0;
  switch (spec.kind) {
    case KernelKind::Linear: {
      const LinearShape s = linear_shape(spec);
      if (v == Variant::Gemv) {
        const GemvPlan g = gemv_plan(spec, s);
        step.grid[0] = Expr::lit(g.blocks);
        step.block[0] = 32 * g.warps;
        step.shared_bytes = static_cast<int>(g.shared_bytes);
      } else {
        int64_t tiles = 0;
        for (int i = 0; i < (s.swiglu ? 1 : s.nw); ++i) tiles += (spec.weights[i].rows + tile_rows(v) - 1) / tile_rows(v);
        step.grid[0] = rows;
        step.grid_divisor[0] = 64;
        step.grid[1] = Expr::lit(tiles);
        step.block[0] = tile_threads(v);
      }
      break;
    }
    case KernelKind::Attention:
      step.block[0] = 32 * attention_warps(v == Variant::AttnDecode);
      if (v == Variant::AttnDecode) {
        step.grid = {Expr::lit(spec.kv_heads), Expr::lit(kAttnDecodeSplits), rows};
        step.shared_bytes = static_cast<int>(attention_smem(spec, 1));
      } else {
        step.grid = {Expr::lit(spec.kv_heads), rows, Expr::lit(1)};
        step.grid_divisor[1] = kAttnPrefillTokens;
        step.shared_bytes = static_cast<int>(attention_smem(spec, kAttnPrefillTokens));
      }
      break;
    case KernelKind::Silu:
    case KernelKind::Mul:
    case KernelKind::Add:
      step.grid[0] = Expr{rows.coef_T * spec.cols, 0, rows.constant * spec.cols};
      step.grid_divisor[0] = 256;
      break;
    case KernelKind::Rope:
      step.grid[0] = rows;
      step.block[0] = rope_threads(spec.heads * spec.head_dim / 2);
      break;
    case KernelKind::KvAppend:
      step.grid[0] = rows;
      step.block[0] = rope_threads((spec.heads + spec.kv_heads) * spec.head_dim / 2);  // heads: q rotated too
      break;
    default:  // one block a token
      step.grid[0] = rows;
      break;
  }
}

std::vector<KernelRef> kernels_of(const std::vector<Function>& functions) {
  std::vector<KernelRef> out;
  std::set<std::string> seen;
  for (const auto& f : functions)
    for (const auto& st : f.steps) {
      if (st.kernel.empty()) throw_internal("kernels_of: step without a kernel (call assign_cuda_launch first)");
      if (seen.insert(st.kernel).second) out.push_back({st.spec, variant_of(st.kernel), st.kernel});
    }
  return out;
}

}  // namespace aprc::cuda
