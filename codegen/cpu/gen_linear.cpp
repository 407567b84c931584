// Linear: out_i = prologue(x) @ W_i^T (+ b_i), then the epilogue (kernel_spec.h).
//
// Work is done 16 output rows at a time (a "group"), so every path ends in one vector of 16
// results per token, which the shared epilogue scales, biases, combines and stores under a mask.
//
// The RMSNorm prologue never materializes the normalized x: since (x * inv * gamma) @ W =
// inv * ((x * gamma) @ W), gamma is folded into x (matrix-vector) or into the dequantized weights
// (matrix-matrix), and the per-token inv = 1/rms(x) scales the results.
//
//  - T == 1 (decode), matrix-vector: cpu_r16 weights keep rows in vector lanes and read each tile
//    once (WeightReader::group_unit_dot applies scales per sub-block and factors mins and code
//    offsets out through per-16-column sums of x); row_major weights compute one dot product per
//    row, columns in lanes.
//  - T > 1 (prefill), matrix-matrix: for each group and block of up to 256 columns, the weights are
//    dequantized once into a panel P[k][16 rows] (f32, on the stack), then every token tile of TT
//    tokens runs a register-blocked microkernel: acc[t] += x[t][k] * P[k] for the tile's tokens,
//    partial sums kept per group in C[T][16] across column blocks.
//  - per-token fp8 activations (KernelSpec::fp8_activations, fp8e4m3 weights, prefill functions):
//    every call, T == 1 included, takes the matrix-matrix path on tokens in blocks; each block's
//    normalized x (x * 1/rms * gamma), times 1 / (max|row| / 448) per token, becomes the sum of two
//    e4m3 terms (blocks.h, aprc_fp8e4m3_hi_lo: nearest even, saturating), scaled back and multiplied
//    as floats, which is what the interpreter computes.
//  - T > 1 with int8 activations (KernelSpec::int8_activations, cpu_r16 weights, AVX-512 VNNI):
//    tokens go in blocks of TB; each block's x (times gamma) is quantized once per call to int8
//    per 32 columns (stored + 128 as u8, with its f32 scale), the weight panels become s8 vpdpbusd
//    operands (4 columns x 16 rows per 64 bytes), and the microkernel sums integer products per
//    scale group of the weights, then scales them into f32 accumulators.
#include <algorithm>

#include "aprc/error.h"
#include "kernels.h"
#include "weight_reader.h"

namespace aprc::cpu {

using mlir::arith::CmpIPredicate;

namespace {

constexpr int64_t kPanelCols = 256;  // columns of one dequantized panel (at most)
// How far ahead of the matrix-vector loop's reads to prefetch the weight stream. Measured on the
// 2-core Zen 5 development machine (bench_cpu_kernels): without hints q6_k streamed at 35% of the
// read bandwidth; 4 KiB ahead gave 60-70% with the f32 readers, 8 KiB 75-95% with the faster bf16
// ones (the hints must lead the loads by a few hundred nanoseconds); 12-16 KiB no better.
constexpr int64_t kPrefetchBytes = 8192;

struct Job {
  llvm::SmallVector<int, 2> weights;  // indices into the spec's weights (SwiGLU: gate, up)
  Value lo, hi;                       // rows [lo, hi) of those weights
  Value out;                          // output view
  int64_t n = 0;                      // output row width
};

class LinearGen {
 public:
  LinearGen(KB& k, KernelFn& fn, const KernelSpec& s) : k_(k), fn_(fn), s_(s) {}
  void run();

 private:
  void check_spec();
  void matvec(const Job& job);
  // Tokens [t_lo, t_lo + n) of `x` (a view whose row 0 is token t_lo when x is not x_).
  void matmul(const Job& job, Value x, Value t_lo, Value n);
  void quantize_fp8(Value t0, Value n);
  void dequant_panel(WeightReader& w, Value g, Value k0, Value kc, Value P);
  bool int8_usable() const;
  void split_x_bf16();
  void matmul_int8(const std::vector<Job>& jobs);
  void quantize_tokens(Value t0, Value n);
  // Runs body(g, g_second, tokens...) over the chunk's groups two panels at a time, then the
  // epilogue of tokens [t_lo, t_hi) from c_[0], c_[1] (local token t - t_lo).
  void for_panel_pairs(const Job& job, Value t_lo, Value t_hi, const std::function<void(Value, Value)>& body);
  Value row_major_dot(WeightReader& w, Value row, Value x);
  void epilogue(const Job& job, Value t, Value g, Values ys, Value mask);
  int64_t panel_cols(const WeightReader& w) const {
    return std::max<int64_t>(w.unit_cols(), kPanelCols / w.unit_cols() * w.unit_cols());
  }

  KB& k_;
  KernelFn& fn_;
  const KernelSpec& s_;
  int64_t K_ = 0;
  Value x_, T_, resid_, inv_rms_, gamma_;        // gamma_: K floats (f32), when has_norm
  std::vector<WeightReader> w_;
  std::vector<WeightReader> bias_;
  std::vector<Value> outs_;
  Value xprime_, xsum_;                          // matrix-vector: x * gamma, and its 16-column sums
  bool bf16_ = false;                            // matrix-vector through bf16 dot products
  Value xhi_, xlo_, xsumb_;                      // ... with x * gamma as bf16 pairs hi + lo, and sums
  // int8 path scratch: quantized token block, its per-32-column scales and sums, panel operands
  int64_t tb_ = 0;
  Value xq_, xscale_, xsum32_, ops_[2], gscale_[2], ginit_[2], gmin_[2];
  Value panel_[2], panel_rows_, c_[2];           // matrix-matrix scratch
  // per-token fp8 activations: tokens per block, and the block's normalized, e4m3-rounded x
  bool fp8x_ = false;
  int64_t tb8_ = 0;
  Value xq8_;
  int64_t panel_pitch_ = 0;                      // panel_rows_ row pitch (room for a 16-lane tail)
};

void LinearGen::check_spec() {
  const auto& W = s_.weights;
  if (W.empty()) throw_internal("linear: no weights");
  K_ = W[0].cols;
  for (const auto& w : W)
    if (w.cols != K_) throw_internal("linear: weights disagree on the input width");
  if (s_.epilogue == Epilogue::SwiGLU && (W.size() != 2 || W[0].rows != W[1].rows))
    throw_internal("linear: swiglu needs two weights of equal rows");
  if (s_.epilogue == Epilogue::Residual && W.size() != 1) throw_internal("linear: residual needs one weight");
  if (!s_.biases.empty() && s_.biases.size() != W.size()) throw_internal("linear: one bias per weight");
  for (size_t i = 0; i < s_.biases.size(); ++i)
    if (s_.biases[i].rows * s_.biases[i].cols != W[i].rows) throw_internal("linear: bias length is not the weight's rows");
  if (s_.has_norm && s_.norm.rows * s_.norm.cols != K_) throw_internal("linear: norm length is not the input width");
  if (s_.fp8_activations)
    for (const auto& w : W)
      if (w.dtype != DType::FP8_E4M3)
        throw_bad_input("linear " + s_.name() + ": per-token fp8 activations need every weight fp8e4m3, not " +
                        dtype_name(w.dtype));
}

void LinearGen::run() {
  check_spec();
  auto& k = k_;
  int a = 0;
  x_ = fn_.view(a++, k.f32);
  Value gamma_bytes = s_.has_norm ? fn_.view(a++, k.i8) : Value();
  if (s_.epilogue == Epilogue::Residual) resid_ = fn_.view(a++, k.f32);
  for (const auto& w : s_.weights) {
    w_.emplace_back(k, w, fn_.view(a++, k.i8));
    w_.back().set_prefetch_distance(kPrefetchBytes);
  }
  for (const auto& b : s_.biases) bias_.emplace_back(k, b, fn_.view(a++, k.i8));
  const size_t n_out = s_.epilogue == Epilogue::None ? s_.weights.size() : 1;
  for (size_t i = 0; i < n_out; ++i) outs_.push_back(fn_.view(a++, k.f32));
  T_ = fn_.T();
  fp8x_ = s_.fp8_activations;

  // The normalization: gamma as K floats, and 1/rms(x[t]) for each token.
  if (s_.has_norm) {
    WeightReader g(k, s_.norm, gamma_bytes);
    gamma_ = k.stack(k.f32, K_);
    for_lanes16(k, k.ci(0), k.ci(K_), [&](Value i, Value mask) {
      Value m = mask ? mask : k.lane_mask(k.ci(0), k.ci(16), 16);
      Value v = g.vector16(i, m);
      if (mask) k.vstore_masked(v, gamma_, i, mask);
      else k.vstore(v, gamma_, i);
    });
    inv_rms_ = k.stack(k.f32, T_);
    k.for_(k.ci(0), T_, k.ci(1), [&](Value t) {
      Value row = k.mul(t, k.ci(K_));
      Value acc = for_lanes16(k, k.ci(0), k.ci(K_), {k.vconst_f(0, 16)}, [&](Value i, Value mask, mlir::ValueRange c) {
        Value v = mask ? k.vload_masked(x_, k.add(row, i), mask, k.vconst_f(0, 16)) : k.vload(x_, k.add(row, i), 16);
        return Values{k.fma(v, v, c[0])};
      })[0];
      Value mean = k.div(k.extf(k.reduce_add(acc), k.f64), k.cfl(double(K_), k.f64));
      Value inv = k.div(k.cfl(1.0, k.f64), k.sqrt(k.add(mean, k.cfl(s_.eps, k.f64))));
      k.store(k.truncf(inv, k.f32), inv_rms_, t);
    });
  }

  // Scratch for both paths, allocated once at the top of the kernel.
  bool any_r16 = false, any_row_major = false;
  for (const auto& w : w_) (w.r16() ? any_r16 : any_row_major) = true;
  const int nw = s_.epilogue == Epilogue::SwiGLU ? 2 : 1;
  int64_t max_panel = 0;
  for (const auto& w : w_) max_panel = std::max(max_panel, panel_cols(w));
  for (int i = 0; i < 2; ++i) {
    panel_[i] = k.stack(k.f32, max_panel * 16);
    c_[i] = k.stack(k.f32, k.mul(k.max(T_, k.ci(1)), k.ci(16)));
  }
  panel_pitch_ = max_panel + 16;
  if (any_row_major) panel_rows_ = k.stack(k.f32, 16 * panel_pitch_);
  if (fp8x_) {
    // Tokens per block: 512 KiB of f32 rows, 8 to 64 (the microkernel's tile is 8 tokens).
    tb8_ = std::clamp<int64_t>(512 * 1024 / (4 * K_) / 8 * 8, 8, 64);
    xq8_ = k.stack(k.f32, tb8_ * K_);
  }
  if (int8_usable()) {
    // Tokens per quantized block: as many as fit 384 KiB of codes, 4 to 64.
    tb_ = std::clamp<int64_t>((384 * 1024 / K_) / 4 * 4, 4, 64);
    xq_ = k.stack(k.i8, tb_ * K_);
    xscale_ = k.stack(k.f32, tb_ * K_ / 32);
    bool mins = false;  // the sums of x serve only the q4_k mins
    for (const auto& w : w_) mins |= w.int8_has_mins();
    if (mins) xsum32_ = k.stack(k.f32, tb_ * K_ / 32);
    for (int i = 0; i < 2; ++i) {
      ops_[i] = k.stack(k.i8, kPanelCols / 4 * 64);
      gscale_[i] = k.stack(k.f32, kPanelCols);  // up to 16 scale groups x 16 rows
      ginit_[i] = k.stack(k.i32, kPanelCols);
      gmin_[i] = k.stack(k.f32, kPanelCols);
    }
  }
  const bool need_xprime = s_.has_norm;
  xprime_ = need_xprime ? k.stack(k.f32, K_) : x_;
  bool f32_r16 = false;  // some cpu_r16 weight takes the f32 matrix-vector reader
  for (const auto& w : w_) {
    if (!w.r16()) continue;
    const bool b = k.has_bf16 && WeightReader::bf16_dot_supported(w.desc().dtype);
    bf16_ |= b;
    f32_r16 |= !b;
  }
  if (f32_r16) xsum_ = k.stack(k.f32, (K_ + 15) / 16);
  if (bf16_) {
    xhi_ = k.stack(k.i32, K_ / 2);
    xlo_ = k.stack(k.i32, K_ / 2);
    xsumb_ = k.stack(k.f32, K_ / 16);
  }

  // The jobs: which rows of which weights this chunk [begin, end) covers.
  std::vector<Job> jobs;
  if (s_.epilogue == Epilogue::None) {
    int64_t off = 0;
    for (size_t i = 0; i < w_.size(); ++i) {
      const int64_t n = s_.weights[i].rows;
      Value lo = k.min(k.max(k.sub(fn_.begin(), k.ci(off)), k.ci(0)), k.ci(n));
      Value hi = k.min(k.max(k.sub(fn_.end(), k.ci(off)), k.ci(0)), k.ci(n));
      jobs.push_back(Job{{int(i)}, lo, hi, outs_[i], n});
      off += n;
    }
  } else {
    const int64_t n = s_.weights[0].rows;
    Job j{{0}, k.min(fn_.begin(), k.ci(n)), k.min(fn_.end(), k.ci(n)), outs_[0], n};
    if (nw == 2) j.weights.push_back(1);
    jobs.push_back(j);
  }

  if (fp8x_) {
    k.for_(k.ci(0), T_, k.ci(tb8_), [&](Value t0) {
      Value n = k.min(k.ci(tb8_), k.sub(T_, t0));
      quantize_fp8(t0, n);
      for (const Job& j : jobs) matmul(j, xq8_, t0, n);
    });
    return;
  }
  Value is_decode = k.cmp(CmpIPredicate::eq, T_, k.ci(1));
  k.b.create<mlir::scf::IfOp>(is_decode, [&](mlir::OpBuilder&, mlir::Location) {
    // x * gamma and its sums over runs of 16 columns, for this one token.
    if (need_xprime)
      for_lanes16(k, k.ci(0), k.ci(K_), [&](Value i, Value mask) {
        Value z = k.vconst_f(0, 16);
        Value v = mask ? k.vload_masked(x_, i, mask, z) : k.vload(x_, i, 16);
        Value g = mask ? k.vload_masked(gamma_, i, mask, z) : k.vload(gamma_, i, 16);
        if (mask) k.vstore_masked(k.mul(v, g), xprime_, i, mask);
        else k.vstore(k.mul(v, g), xprime_, i);
      });
    if (f32_r16)
      for_lanes16(k, k.ci(0), k.ci(K_), [&](Value i, Value mask) {
        Value v = mask ? k.vload_masked(xprime_, i, mask, k.vconst_f(0, 16)) : k.vload(xprime_, i, 16);
        k.store(k.reduce_add(v), xsum_, k.b.create<mlir::arith::DivUIOp>(i, k.ci(16)));
      });
    if (bf16_) split_x_bf16();
    for (const Job& j : jobs) matvec(j);
    k.b.create<mlir::scf::YieldOp>();
  }, [&](mlir::OpBuilder&, mlir::Location) {
    if (int8_usable()) matmul_int8(jobs);
    else
      for (const Job& j : jobs) matmul(j, x_, k.ci(0), T_);
    k.b.create<mlir::scf::YieldOp>();
  });
}

// sum_k W[row][k] * x[k] for a row_major weight: columns in lanes, reduced at the end.
Value LinearGen::row_major_dot(WeightReader& w, Value row, Value x) {
  auto& k = k_;
  const int64_t W = w.unit_cols();
  Value zero = k.vconst_f(0, 16);
  Values acc = k.for_(k.ci(0), k.ci(w.full_units()), k.ci(1), {zero, zero}, [&](Value u, mlir::ValueRange a) -> Values {
    Values o{a[0], a[1]};
    int n = 0;
    w.row_unit(row, u, [&](int64_t c, Value v) {
      o[n % 2] = k.fma(v, k.vload(x, k.add(k.mul(u, k.ci(W)), k.ci(c)), 16), o[n % 2]);
      ++n;
    });
    return o;
  });
  Value sum = k.add(acc[0], acc[1]);
  if (w.tail_cols()) {
    Value mask = k.lane_mask(k.ci(0), k.ci(w.tail_cols()), 16);
    w.row_unit(row, k.ci(w.full_units()), [&](int64_t c, Value v) {
      Value xv = k.vload_masked(x, k.ci(w.full_units() * W + c), mask, zero);
      sum = k.fma(v, xv, sum);
    }, true);
  }
  return k.reduce_add(sum);
}

// x * gamma as bf16 halves: hi = bf16(x), lo = bf16(x - hi), packed two columns an i32 (column 2m
// in the low half); and the sums of hi + lo over each run of 16 columns (K is a multiple of 32 for
// every format that reads them).
void LinearGen::split_x_bf16() {
  auto& k = k_;
  llvm::SmallVector<int64_t> cat;
  for (int i = 0; i < 32; ++i) cat.push_back(i);
  k.for_(k.ci(0), k.ci(K_), k.ci(32), [&](Value c) {
    Value hi[2], lo[2];
    for (int h = 0; h < 2; ++h) {
      Value col = k.add(c, k.ci(16 * h));
      Value v = k.vload(xprime_, col, 16);
      hi[h] = k.truncf(v, k.bf16);
      Value rest = k.sub(v, k.extf(hi[h], k.f32));
      lo[h] = k.truncf(rest, k.bf16);
      Value back = k.add(k.extf(hi[h], k.f32), k.extf(lo[h], k.f32));
      k.store(k.reduce_add(back), xsumb_, k.b.create<mlir::arith::DivUIOp>(col, k.ci(16)));
    }
    Value at = k.b.create<mlir::arith::DivUIOp>(c, k.ci(2));
    k.vstore(k.vbitcast(k.shuffle(hi[0], hi[1], cat), k.vec(16, k.i32)), xhi_, at);
    k.vstore(k.vbitcast(k.shuffle(lo[0], lo[1], cat), k.vec(16, k.i32)), xlo_, at);
  });
}

void LinearGen::matvec(const Job& job) {
  auto& k = k_;
  k.if_(k.cmp(CmpIPredicate::slt, job.lo, job.hi), [&] {
    Value g0 = k.b.create<mlir::arith::DivUIOp>(job.lo, k.ci(16));
    Value g1 = k.b.create<mlir::arith::DivUIOp>(k.add(job.hi, k.ci(15)), k.ci(16));
    // The loop prefetches kPrefetchBytes ahead; start the stream by hinting its first stretch.
    for (int wi : job.weights)
      if (w_[wi].r16()) w_[wi].prefetch_bytes(g0, kPrefetchBytes);
    k.for_(g0, g1, k.ci(1), [&](Value g) {
      Values ys;
      for (int wi : job.weights) {
        WeightReader& w = w_[wi];
        if (w.r16()) {
          ys.push_back(k.for_(k.ci(0), k.ci(w.full_units()), k.ci(1), {k.vconst_f(0, 16)},
                              [&](Value u, mlir::ValueRange a) -> Values {
                                Value k0 = k.mul(u, k.ci(w.unit_cols()));
                                if (k.has_bf16 && WeightReader::bf16_dot_supported(w.desc().dtype))
                                  return {w.group_unit_dot_bf16(g, u, xhi_, xlo_, k0, xsumb_, a[0])};
                                return {w.group_unit_dot(g, u, xprime_, k0, xsum_, a[0])};
                              })[0]);
        } else {
          const int64_t n = w.desc().rows;
          ys.push_back(k.for_(k.ci(0), k.ci(16), k.ci(1), {k.vconst_f(0, 16)}, [&](Value r, mlir::ValueRange a) -> Values {
            Value row = k.min(k.add(k.mul(g, k.ci(16)), r), k.ci(n - 1));
            return {k.insert(row_major_dot(w, row, xprime_), a[0], r)};
          })[0]);
        }
      }
      Value base = k.mul(g, k.ci(16));
      epilogue(job, k.ci(0), g, ys, k.lane_mask(k.sub(job.lo, base), k.sub(job.hi, base), 16));
    });
  });
}

// P[c][r] = W[16g + r][k0 + c] (* gamma[k0 + c], unless fp8 activations hold it) for the kc
// columns from k0.
void LinearGen::dequant_panel(WeightReader& w, Value g, Value k0, Value kc, Value P) {
  auto& k = k_;
  const int64_t W = w.unit_cols();
  Value u0 = k.b.create<mlir::arith::DivUIOp>(k0, k.ci(W));
  Value u1 = k.b.create<mlir::arith::DivUIOp>(k.add(k0, kc), k.ci(W));  // full units only
  if (w.r16()) {
    k.for_(u0, u1, k.ci(1), [&](Value u) {
      Value col0 = k.sub(k.mul(u, k.ci(W)), k0);
      w.group_unit(g, u, [&](Value c, Value v) {
        Value col = k.add(col0, c);
        if (gamma_ && !fp8x_) v = k.mul(v, k.splat(k.load(gamma_, k.add(k0, col)), 16));
        k.vstore(v, P, k.mul(col, k.ci(16)));
      });
    });
    return;
  }
  // row_major: decode the 16 rows (columns in lanes) into panel_rows_, then transpose.
  const int64_t n = w.desc().rows, pitch = panel_pitch_;
  k.for_(k.ci(0), k.ci(16), k.ci(1), [&](Value r) {
    Value row = k.min(k.add(k.mul(g, k.ci(16)), r), k.ci(n - 1));
    Value dst = k.mul(r, k.ci(pitch));
    k.for_(u0, u1, k.ci(1), [&](Value u) {
      Value col0 = k.add(dst, k.sub(k.mul(u, k.ci(W)), k0));
      w.row_unit(row, u, [&](int64_t c, Value v) { k.vstore(v, panel_rows_, k.add(col0, k.ci(c))); });
    });
    if (w.tail_cols())
      k.if_(k.cmp(CmpIPredicate::eq, k.add(k0, kc), k.ci(K_)), [&] {
        Value col0 = k.add(dst, k.sub(k.ci(w.full_units() * W), k0));
        w.row_unit(row, k.ci(w.full_units()), [&](int64_t c, Value v) { k.vstore(v, panel_rows_, k.add(col0, k.ci(c))); }, true);
      });
  });
  k.for_(k.ci(0), kc, k.ci(1), [&](Value c) {
    Value v = k.vconst_f(0, 16);
    for (int r = 0; r < 16; ++r) v = k.insert(k.load(panel_rows_, k.add(c, k.ci(r * pitch))), v, r);
    if (gamma_ && !fp8x_) v = k.mul(v, k.splat(k.load(gamma_, k.add(k0, c)), 16));
    k.vstore(v, P, k.mul(c, k.ci(16)));
  });
}

// Two panels at a time: the gate and up rows of one group (SwiGLU), or two neighbouring groups of
// one weight (the second repeats the first when the chunk has an odd number of groups; its
// results are then not stored).
void LinearGen::for_panel_pairs(const Job& job, Value t_lo, Value t_hi, const std::function<void(Value, Value)>& body) {
  auto& k = k_;
  const bool swiglu = job.weights.size() == 2;
  k.if_(k.cmp(CmpIPredicate::slt, job.lo, job.hi), [&] {
    Value g0 = k.b.create<mlir::arith::DivUIOp>(job.lo, k.ci(16));
    Value g1 = k.b.create<mlir::arith::DivUIOp>(k.add(job.hi, k.ci(15)), k.ci(16));
    k.for_(g0, g1, k.ci(swiglu ? 1 : 2), [&](Value g) {
      Value g_second = swiglu ? g : k.min(k.add(g, k.ci(1)), k.sub(g1, k.ci(1)));
      body(g, g_second);
      auto mask_of = [&](Value grp) {
        Value base = k.mul(grp, k.ci(16));
        return k.lane_mask(k.sub(job.lo, base), k.sub(job.hi, base), 16);
      };
      Value m0 = mask_of(g);
      Value second_real = k.cmp(CmpIPredicate::slt, k.add(g, k.ci(1)), g1);
      Value m1 = swiglu ? Value() : k.band(mask_of(k.add(g, k.ci(1))), k.splat(second_real, 16));
      k.for_(t_lo, t_hi, k.ci(1), [&](Value t) {
        Value lt = k.sub(t, t_lo);
        Value y0 = k.vload(c_[0], k.mul(lt, k.ci(16)), 16), y1 = k.vload(c_[1], k.mul(lt, k.ci(16)), 16);
        if (swiglu) {
          epilogue(job, t, g, {y0, y1}, m0);
        } else {
          epilogue(job, t, g, {y0}, m0);
          epilogue(job, t, k.add(g, k.ci(1)), {y1}, m1);
        }
      });
    });
  });
}

// f32: the microkernel keeps 2 x kTile accumulators in registers and issues two FMAs per
// broadcast of x.
void LinearGen::matmul(const Job& job, Value x, Value t_lo, Value n) {
  auto& k = k_;
  constexpr int64_t kTile = 8;  // tokens per microkernel tile
  const bool swiglu = job.weights.size() == 2;
  WeightReader& w0 = w_[job.weights[0]];
  WeightReader& w1 = w_[job.weights[swiglu ? 1 : 0]];
  const int64_t PC = std::max(panel_cols(w0), panel_cols(w1));
  Value zero = k.vconst_f(0, 16);
  for_panel_pairs(job, t_lo, k.add(t_lo, n), [&](Value g, Value g_second) {
    for (int i = 0; i < 2; ++i)
      k.for_(k.ci(0), n, k.ci(1), [&](Value t) { k.vstore(zero, c_[i], k.mul(t, k.ci(16))); });
    k.for_(k.ci(0), k.ci(K_), k.ci(PC), [&](Value k0) {
      Value kc = k.min(k.ci(PC), k.sub(k.ci(K_), k0));
      dequant_panel(w0, g, k0, kc, panel_[0]);
      dequant_panel(w1, g_second, k0, kc, panel_[1]);
      // A short last tile repeats its last token (same loads, same sums, same stores), so
      // every tile runs the same code.
      k.for_(k.ci(0), n, k.ci(kTile), [&](Value t0) {
        Values tok, acc, xrow;  // tokens counted from t_lo
        for (int64_t j = 0; j < kTile; ++j) tok.push_back(k.min(k.add(t0, k.ci(j)), k.sub(n, k.ci(1))));
        for (int i = 0; i < 2; ++i)
          for (int64_t j = 0; j < kTile; ++j) acc.push_back(k.vload(c_[i], k.mul(tok[j], k.ci(16)), 16));
        const bool own_rows = x != x_;  // x_ holds every token; a block view starts at t_lo
        for (int64_t j = 0; j < kTile; ++j)
          xrow.push_back(k.add(k.mul(own_rows ? tok[j] : k.add(tok[j], t_lo), k.ci(K_)), k0));
        Values res = k.for_(k.ci(0), kc, k.ci(1), acc, [&](Value c, mlir::ValueRange a) -> Values {
          Values o(a.begin(), a.end());
          Value p[2] = {k.vload(panel_[0], k.mul(c, k.ci(16)), 16), k.vload(panel_[1], k.mul(c, k.ci(16)), 16)};
          for (int64_t j = 0; j < kTile; ++j) {
            Value xv = k.splat(k.load(x, k.add(xrow[j], c)), 16);
            for (int i = 0; i < 2; ++i) o[i * kTile + j] = k.fma(p[i], xv, o[i * kTile + j]);
          }
          return o;
        });
        for (int i = 0; i < 2; ++i)
          for (int64_t j = 0; j < kTile; ++j) k.vstore(res[i * kTile + j], c_[i], k.mul(tok[j], k.ci(16)));
      });
    });
  });
}

// e4m3 rounding of a vector of f32 (as aprc_f32_to_fp8e4m3, then back to f32): |y| scaled by the
// inverse of its e4m3 quantum (2^(e - 3) in binade e, 2^-9 below the normals: exact powers of two),
// rounded to an integer (ties to even), scaled back and saturated at 448; NaN stays NaN.
static Value round_e4m3(KB& k, Value y) {
  auto ci32 = [&](int64_t v) { return k.vconst_i(v, 16, k.i32); };
  Value bits = k.bitcast(y, k.i32);
  Value a = k.band(bits, ci32(0x7fffffff));
  Value qexp = k.sub(k.max(k.shru(a, ci32(23)), ci32(121)), ci32(3));  // biased exponent of the quantum
  Value q = k.bitcast(k.shl(qexp, ci32(23)), k.f32);
  Value inv_q = k.bitcast(k.shl(k.sub(ci32(254), qexp), ci32(23)), k.f32);
  Value r = k.min(k.mul(k.round_even(k.mul(k.bitcast(a, k.f32), inv_q)), q), k.vconst_f(448.0, 16));
  return k.bitcast(k.bor(k.bitcast(r, k.i32), k.band(bits, ci32(-2147483648LL))), k.f32);
}

// Tokens [t0, t0 + n) of x, normalized (x * 1/rms * gamma), each times 1/s with the scale
// s = max|row| / 448 (s = 0 gives zeros) as two e4m3 terms, hi = e4m3(v) and lo = e4m3(v - hi), whose
// sum is scaled back: xq8_[local token][K].
void LinearGen::quantize_fp8(Value t0, Value n) {
  auto& k = k_;
  Value zero = k.vconst_f(0, 16);
  k.for_(k.ci(0), n, k.ci(1), [&](Value lt) {
    Value t = k.add(t0, lt);
    Value row = k.mul(t, k.ci(K_));
    Value inv = inv_rms_ ? k.splat(k.load(inv_rms_, t), 16) : Value();
    auto normalized = [&](Value i, Value mask) {
      Value v = mask ? k.vload_masked(x_, k.add(row, i), mask, zero) : k.vload(x_, k.add(row, i), 16);
      if (inv) v = k.mul(v, inv);
      if (gamma_) v = k.mul(v, mask ? k.vload_masked(gamma_, i, mask, zero) : k.vload(gamma_, i, 16));
      return v;
    };
    // max |x| through the unsigned order of the bits (a NaN, larger than any, propagates)
    Value absmask = k.vconst_i(0x7fffffff, 16, k.i32);
    Value bits = for_lanes16(k, k.ci(0), k.ci(K_), {k.vconst_i(0, 16, k.i32)}, [&](Value i, Value mask, mlir::ValueRange c) {
      return Values{k.b.create<mlir::arith::MaxUIOp>(c[0], k.band(k.bitcast(normalized(i, mask), k.i32), absmask))};
    })[0];
    Value scale = k.div(k.bitcast(k.reduce_umax(bits), k.f32), k.cf(448.0));
    Value pos = k.cmpf(mlir::arith::CmpFPredicate::OGT, scale, k.cf(0));
    Value inv_s = k.splat(k.select(pos, k.div(k.cf(1.0), scale), k.cf(0)), 16);
    Value s16 = k.splat(scale, 16);
    Value out = k.mul(lt, k.ci(K_));
    for_lanes16(k, k.ci(0), k.ci(K_), [&](Value i, Value mask) {
      Value v = k.mul(normalized(i, mask), inv_s);
      Value hi = round_e4m3(k, v);
      v = k.mul(k.add(hi, round_e4m3(k, k.sub(v, hi))), s16);
      if (mask) k.vstore_masked(v, xq8_, k.add(out, i), mask);
      else k.vstore(v, xq8_, k.add(out, i));
    });
  });
}

bool LinearGen::int8_usable() const {
  if (!s_.int8_activations || !k_.has_vnni) return false;
  for (const WeightDesc& w : s_.weights)
    if (w.layout != WeightLayout::CpuR16) return false;  // every cpu_r16 format has int8 codes
  return true;
}

// Quantizes tokens [t0, t0 + n) of x * gamma to int8 per 32 columns: a = round(x / s) with
// s = max|x| / 127, stored as a + 128 (u8) in xq_[local token][K]; xscale_ gets s and xsum32_
// s * sum a, the sum of the quantized values (for the q4_k mins).
void LinearGen::quantize_tokens(Value t0, Value n) {
  auto& k = k_;
  k.for_(k.ci(0), n, k.ci(1), [&](Value lt) {
    Value row = k.mul(k.add(t0, lt), k.ci(K_));
    k.for_(k.ci(0), k.ci(K_ / 32), k.ci(1), [&](Value blk) {
      Value col = k.mul(blk, k.ci(32));
      Value v[2];
      for (int h = 0; h < 2; ++h) {
        Value c = k.add(col, k.ci(16 * h));
        v[h] = k.vload(x_, k.add(row, c), 16);
        if (gamma_) v[h] = k.mul(v[h], k.vload(gamma_, c, 16));
      }
      // max |x| through the bit patterns: for non-negative floats the unsigned order is the
      // float order (and a NaN, larger than any, propagates), with no NaN-aware float reduction
      Value absmask = k.vconst_i(0x7fffffff, 16, k.i32);
      Value bits = k.b.create<mlir::arith::MaxUIOp>(k.band(k.bitcast(v[0], k.i32), absmask),
                                                    k.band(k.bitcast(v[1], k.i32), absmask));
      Value amax = k.bitcast(k.reduce_umax(bits), k.f32);
      Value pos = k.cmpf(mlir::arith::CmpFPredicate::OGT, amax, k.cf(0));
      Value inv = k.select(pos, k.div(k.cf(127.0), amax), k.cf(0));
      Value at = k.add(k.mul(lt, k.ci(K_ / 32)), blk);
      Value scale = k.mul(amax, k.cf(1.0 / 127.0));
      k.store(scale, xscale_, at);
      Value qsum;
      for (int h = 0; h < 2; ++h) {
        Value qf = k.round_even(k.mul(v[h], k.splat(inv, 16)));
        qsum = h ? k.add(qsum, qf) : qf;
        Value u = k.trunc(k.add(k.fptosi(qf, k.i32), k.vconst_i(128, 16, k.i32)), k.i8);
        k.vstore(u, xq_, k.add(k.mul(lt, k.ci(K_)), k.add(col, k.ci(16 * h))));
      }
      // The q4_k mins multiply the sum of the quantized values, not of x: then the result is
      // exactly sum w * xq, whose error is the quantization error times the weights themselves
      // (centred), not times the codes alone (all positive, seven times larger on average).
      if (xsum32_) k.store(k.mul(k.reduce_add(qsum), scale), xsum32_, at);
    });
  });
}

void LinearGen::matmul_int8(const std::vector<Job>& jobs) {
  auto& k = k_;
  constexpr int64_t kTile = 4;  // tokens per microkernel tile: 2 x 4 int32 + 2 x 4 f32 accumulators (6 measured no faster)
  Value zero = k.vconst_f(0, 16);
  k.for_(k.ci(0), T_, k.ci(tb_), [&](Value tb0) {
    Value nb = k.min(k.ci(tb_), k.sub(T_, tb0));
    quantize_tokens(tb0, nb);
    for (const Job& job : jobs) {
      const bool swiglu = job.weights.size() == 2;
      WeightReader* wr[2] = {&w_[job.weights[0]], &w_[job.weights[swiglu ? 1 : 0]]};
      const int64_t PC = std::max(panel_cols(*wr[0]), panel_cols(*wr[1]));
      for_panel_pairs(job, tb0, k.add(tb0, nb), [&](Value g, Value g_second) {
        for (int i = 0; i < 2; ++i)
          k.for_(k.ci(0), nb, k.ci(1), [&](Value t) { k.vstore(zero, c_[i], k.mul(t, k.ci(16))); });
        k.for_(k.ci(0), k.ci(K_), k.ci(PC), [&](Value k0) {
          Value kc = k.min(k.ci(PC), k.sub(k.ci(K_), k0));
          Value grp[2] = {g, g_second};
          for (int p = 0; p < 2; ++p) {
            WeightReader& w = *wr[p];
            const int64_t W = w.unit_cols(), G = w.int8_group_cols();
            Value u0 = k.b.create<mlir::arith::DivUIOp>(k0, k.ci(W));
            Value u1 = k.b.create<mlir::arith::DivUIOp>(k.add(k0, kc), k.ci(W));
            k.for_(u0, u1, k.ci(1), [&](Value u) {
              Value grp0 = k.b.create<mlir::arith::DivUIOp>(k.sub(k.mul(u, k.ci(W)), k0), k.ci(G));
              w.group_unit_int8(grp[p], u, grp0, ops_[p], gscale_[p], ginit_[p], gmin_[p]);
            });
          }
          // Both panels share the scale-group width when their formats do; otherwise (q6_k with
          // another format, in a SwiGLU) walk 16-column groups and read the 32-column panel's
          // group at half the index.
          const int64_t G0 = wr[0]->int8_group_cols(), G1 = wr[1]->int8_group_cols();
          const int64_t G = std::min(G0, G1);
          Value ngroups = k.b.create<mlir::arith::DivUIOp>(kc, k.ci(G));
          k.for_(k.ci(0), nb, k.ci(kTile), [&](Value t0) {
            Values tok, accf;
            for (int64_t j = 0; j < kTile; ++j) tok.push_back(k.min(k.add(t0, k.ci(j)), k.sub(nb, k.ci(1))));
            for (int p = 0; p < 2; ++p)
              for (int64_t j = 0; j < kTile; ++j) accf.push_back(k.vload(c_[p], k.mul(tok[j], k.ci(16)), 16));
            Values res = k.for_(k.ci(0), ngroups, k.ci(1), accf, [&](Value gi, mlir::ValueRange a) -> Values {
              Value col = k.add(k0, k.mul(gi, k.ci(G)));  // first column of this group
              Value blk = k.b.create<mlir::arith::DivUIOp>(col, k.ci(32));
              Value pg[2];
              for (int p = 0; p < 2; ++p) {
                const int64_t Gp = p == 0 ? G0 : G1;
                pg[p] = Gp == G ? gi : k.b.create<mlir::arith::DivUIOp>(gi, k.ci(Gp / G));
              }
              Values acci;
              for (int p = 0; p < 2; ++p) {
                Value init = k.vload(ginit_[p], k.mul(pg[p], k.ci(16)), 16);
                // a 32-column panel's group spans two 16-column steps: only the first carries init
                if ((p == 0 ? G0 : G1) != G) {
                  Value first = k.cmp(CmpIPredicate::eq, k.rem(gi, k.ci(2)), k.ci(0));
                  init = k.select(first, init, k.vconst_i(0, 16, k.i32));
                }
                for (int64_t j = 0; j < kTile; ++j) acci.push_back(init);
              }
              for (int64_t st = 0; st < G / 4; ++st) {
                Value wv[2];
                for (int p = 0; p < 2; ++p) {
                  const int64_t Gp = p == 0 ? G0 : G1;
                  // step index inside the panel's operands: group * (Gp/4) + step (+ G/4 for the
                  // second half of a 32-column group walked in 16-column steps)
                  Value sidx = k.add(k.mul(pg[p], k.ci(Gp / 4)), k.ci(st));
                  if (Gp != G) sidx = k.add(sidx, k.mul(k.rem(gi, k.ci(2)), k.ci(G / 4)));
                  wv[p] = k.vload(ops_[p], k.mul(sidx, k.ci(64)), 64);
                }
                for (int64_t j = 0; j < kTile; ++j) {
                  Value at = k.add(k.mul(tok[j], k.ci(K_)), k.add(col, k.ci(4 * st)));
                  Value act = k.vbitcast(k.splat(k.extract(k.load_bytes_as(xq_, at, k.i32, 1), 0), 16), k.vec(64, k.i8));
                  for (int p = 0; p < 2; ++p) acci[p * kTile + j] = k.dot_u8s8(acci[p * kTile + j], act, wv[p]);
                }
              }
              Values o(a.begin(), a.end());
              for (int64_t j = 0; j < kTile; ++j) {
                Value sat = k.add(k.mul(tok[j], k.ci(K_ / 32)), blk);
                Value xs = k.splat(k.load(xscale_, sat), 16);
                for (int p = 0; p < 2; ++p) {
                  const int64_t Gp = p == 0 ? G0 : G1;
                  // a 32-column group's scale multiplies both of its 16-column halves
                  Value sc = k.vload(gscale_[p], k.mul(pg[p], k.ci(16)), 16);
                  Value& acc = o[p * kTile + j];
                  acc = k.fma(k.sitofp(acci[p * kTile + j], k.f32), k.mul(sc, xs), acc);
                  if (wr[p]->int8_has_mins()) {
                    // -dmin * m * sum(x): once per 32-column group
                    Value xsum = k.splat(k.load(xsum32_, sat), 16);
                    Value mn = k.vload(gmin_[p], k.mul(pg[p], k.ci(16)), 16);
                    Value once = Gp == G ? Value() : k.cmp(CmpIPredicate::eq, k.rem(gi, k.ci(2)), k.ci(0));
                    Value term = k.mul(mn, xsum);
                    if (once) term = k.select(once, term, zero);
                    acc = k.sub(acc, term);
                  }
                }
              }
              return o;
            });
            for (int p = 0; p < 2; ++p)
              for (int64_t j = 0; j < kTile; ++j) k.vstore(res[p * kTile + j], c_[p], k.mul(tok[j], k.ci(16)));
          });
        });
      });
    }
  });
}

void LinearGen::epilogue(const Job& job, Value t, Value g, Values ys, Value mask) {
  auto& k = k_;
  Value base = k.mul(g, k.ci(16));
  Value zero = k.vconst_f(0, 16);
  for (size_t i = 0; i < ys.size(); ++i) {
    if (inv_rms_ && !fp8x_) ys[i] = k.mul(ys[i], k.splat(k.load(inv_rms_, t), 16));
    if (!bias_.empty()) ys[i] = k.add(ys[i], bias_[job.weights[i]].vector16(base, mask));
  }
  Value y = ys[0];
  if (s_.epilogue == Epilogue::SwiGLU) y = k.mul(k.silu(ys[0]), ys[1]);
  Value at = k.add(k.mul(t, k.ci(job.n)), base);
  if (s_.epilogue == Epilogue::Residual) y = k.add(y, k.vload_masked(resid_, at, mask, zero));
  k.vstore_masked(y, job.out, at, mask);
}

}  // namespace

void gen_linear(KB& k, mlir::ModuleOp module, const KernelSpec& s) {
  KernelFn fn(k, module, s.name());
  LinearGen(k, fn, s).run();
  fn.finish();
}

}  // namespace aprc::cpu
