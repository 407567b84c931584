// RoPE, the KV-cache append (optionally with RoPE on k) and causal grouped-query attention over the
// f32 KV cache [max_seq, kv_heads, head_dim] (kernel_spec.h).
#include <cmath>

#include "aprc/error.h"
#include "kernels.h"

namespace aprc::cpu {

using mlir::arith::CmpIPredicate;

namespace {

// Rotate-half (NeoX) RoPE of `heads` heads of one token, in place: x[base + h*D + i] and
// x[base + h*D + D/2 + i] rotate by the angle p * theta^(-2i/D). The angles and their sine and
// cosine are computed in f64 once per token, 8 frequencies at a time, then applied to every head.
void rope_token(KB& k, Value x, Value base, Value p, int64_t heads, int64_t D, double theta) {
  const int64_t half = D / 2;
  Value pf = k.splat(k.sitofp(k.from_index(p, k.i64), k.f64), 8);
  for (int64_t i0 = 0; i0 < half; i0 += 8) {
    const int64_t n = std::min<int64_t>(8, half - i0);
    llvm::SmallVector<double> freq(8, 0.0);
    for (int64_t i = 0; i < n; ++i) freq[i] = std::pow(theta, -2.0 * double(i0 + i) / double(D));
    auto t = k.vec(8, k.f64);
    Value f = k.b.create<mlir::arith::ConstantOp>(t, mlir::DenseElementsAttr::get(t, llvm::ArrayRef<double>(freq)));
    auto [s64, c64] = k.sin_cos(k.mul(pf, f));
    Value s = k.truncf(s64, k.f32), c = k.truncf(c64, k.f32);
    Value mask = n < 8 ? k.lane_mask(k.ci(0), k.ci(n), 8) : Value();
    Value zero = k.vconst_f(0, 8);
    k.for_(k.ci(0), k.ci(heads), k.ci(1), [&](Value h) {
      Value a = k.add(base, k.add(k.mul(h, k.ci(D)), k.ci(i0)));
      Value b = k.add(a, k.ci(half));
      Value x1 = mask ? k.vload_masked(x, a, mask, zero) : k.vload(x, a, 8);
      Value x2 = mask ? k.vload_masked(x, b, mask, zero) : k.vload(x, b, 8);
      Value o1 = k.sub(k.mul(x1, c), k.mul(x2, s));
      Value o2 = k.fma(x1, s, k.mul(x2, c));
      if (mask) {
        k.vstore_masked(o1, x, a, mask);
        k.vstore_masked(o2, x, b, mask);
      } else {
        k.vstore(o1, x, a);
        k.vstore(o2, x, b);
      }
    });
  }
}

void copy_floats(KB& k, Value src, Value src_at, Value dst, Value dst_at, int64_t n) {
  for_lanes16(k, k.ci(0), k.ci(n), [&](Value i, Value mask) {
    if (mask) {
      Value v = k.vload_masked(src, k.add(src_at, i), mask, k.vconst_f(0, 16));
      k.vstore_masked(v, dst, k.add(dst_at, i), mask);
    } else {
      k.vstore(k.vload(src, k.add(src_at, i), 16), dst, k.add(dst_at, i));
    }
  });
}

void gen_rope(KB& k, KernelFn& fn, const KernelSpec& s) {
  Value x = fn.view(0, k.f32);
  Value pos = fn.pos();
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    rope_token(k, x, k.mul(t, k.ci(s.heads * s.head_dim)), k.add(pos, t), s.heads, s.head_dim, s.theta);
  });
}

void gen_kv_append(KB& k, KernelFn& fn, const KernelSpec& s) {
  Value kk = fn.view(0, k.f32), v = fn.view(1, k.f32), ck = fn.view(2, k.f32), cv = fn.view(3, k.f32);
  Value pos = fn.pos();
  const int64_t width = s.kv_heads * s.head_dim;
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    Value p = k.add(pos, t);
    Value row = k.mul(t, k.ci(width));
    if (s.rope) rope_token(k, kk, row, p, s.kv_heads, s.head_dim, s.theta);
    Value at = k.mul(p, k.ci(width));
    copy_floats(k, kk, row, ck, at, width);
    copy_floats(k, v, row, cv, at, width);
  });
}

// 16 query tokens t0..t0+15 of head h (kv head g) at once, tokens in vector lanes: scores of a
// block of 16 keys are 16 vectors (one per key) built by D broadcast FMAs each from q transposed
// (qt[d][lane], on the stack), so no horizontal sums; the online softmax keeps a max and a sum per
// lane; the output accumulates transposed in ot[d][lane]. FMA-bound, for prefill.
void attention_tile16(KB& k, const KernelSpec& s, Value q, Value ck, Value cv, Value out, Value pos, Value h, Value g,
                      Value t0, Value qt, Value ot) {
  const int64_t H = s.heads, KVH = s.kv_heads, D = s.head_dim;
  Value neg_inf = k.vconst_f(-INFINITY, 16), zero = k.vconst_f(0, 16);
  // qt[d][l] = q[t0 + l][h][d] * scale
  Value scale = k.cf(s.scale);
  k.for_(k.ci(0), k.ci(D), k.ci(1), [&](Value d) {
    Value v = zero;
    for (int l = 0; l < 16; ++l) {
      Value at = k.add(k.mul(k.add(t0, k.ci(l)), k.ci(H * D)), k.add(k.mul(h, k.ci(D)), d));
      v = k.insert(k.mul(k.load(q, at), scale), v, l);
    }
    k.vstore(v, qt, k.mul(d, k.ci(16)));
    k.vstore(zero, ot, k.mul(d, k.ci(16)));
  });
  Value lanes = k.iota(16, k.i32);
  Value n = k.add(k.add(pos, t0), k.ci(16));  // keys the last token sees: 0 .. pos + t0 + 15
  Values st = k.for_(k.ci(0), n, k.ci(16), {neg_inf, zero}, [&](Value j0, mlir::ValueRange a) -> Values {
    Value kat[16];
    for (int j = 0; j < 16; ++j) {
      Value key = k.min(k.add(j0, k.ci(j)), k.sub(n, k.ci(1)));  // past n: masked for every lane
      kat[j] = k.mul(k.add(k.mul(key, k.ci(KVH)), g), k.ci(D));
    }
    Values init;
    for (int j = 0; j < 16; ++j) init.push_back(zero);
    Values sc = k.for_(k.ci(0), k.ci(D), k.ci(1), init, [&](Value d, mlir::ValueRange acc) -> Values {
      Value qv = k.vload(qt, k.mul(d, k.ci(16)), 16);
      Values o;
      for (int j = 0; j < 16; ++j) o.push_back(k.fma(qv, k.splat(k.load(ck, k.add(kat[j], d)), 16), acc[j]));
      return o;
    });
    // key j0 + j is visible to lane l when j0 + j <= pos + t0 + l
    Value base = k.from_index(k.sub(k.add(pos, t0), j0), k.i32);
    Value bmax = neg_inf;
    for (int j = 0; j < 16; ++j) {
      Value visible = k.cmp(mlir::arith::CmpIPredicate::sge, k.add(lanes, k.splat(base, 16)), k.vconst_i(j, 16, k.i32));
      sc[j] = k.select(visible, sc[j], neg_inf);
      bmax = k.select(k.cmpf(mlir::arith::CmpFPredicate::OGT, sc[j], bmax), sc[j], bmax);
    }
    Value m_new = k.select(k.cmpf(mlir::arith::CmpFPredicate::OGT, bmax, a[0]), bmax, a[0]);
    Value corr = k.exp(k.sub(a[0], m_new));
    Value l_new = k.mul(a[1], corr);
    Values p;
    for (int j = 0; j < 16; ++j) {
      p.push_back(k.exp(k.sub(sc[j], m_new)));
      l_new = k.add(l_new, p[j]);
    }
    // ot[d] = ot[d] * corr + sum_j p_j v[key j][d], eight d at a time
    const int64_t dc = D % 8 == 0 ? 8 : (D % 4 == 0 ? 4 : 2);
    k.for_(k.ci(0), k.ci(D), k.ci(dc), [&](Value d0) {
      Values o;
      for (int64_t i = 0; i < dc; ++i) o.push_back(k.mul(k.vload(ot, k.mul(k.add(d0, k.ci(i)), k.ci(16)), 16), corr));
      for (int j = 0; j < 16; ++j)
        for (int64_t i = 0; i < dc; ++i)
          o[i] = k.fma(p[j], k.splat(k.load(cv, k.add(kat[j], k.add(d0, k.ci(i)))), 16), o[i]);
      for (int64_t i = 0; i < dc; ++i) k.vstore(o[i], ot, k.mul(k.add(d0, k.ci(i)), k.ci(16)));
    });
    return {m_new, l_new};
  });
  Value inv_l = k.div(k.vconst_f(1.0, 16), st[1]);
  k.for_(k.ci(0), k.ci(D), k.ci(1), [&](Value d) {
    Value v = k.mul(k.vload(ot, k.mul(d, k.ci(16)), 16), inv_l);
    for (int l = 0; l < 16; ++l)
      k.store(k.extract(v, l), out, k.add(k.mul(k.add(t0, k.ci(l)), k.ci(H * D)), k.add(k.mul(h, k.ci(D)), d)));
  });
}

// Lane j of the result is the sum of the 16 lanes of v[j]: pairs of vectors are folded in halves
// (two permutes and an add a pair) until one vector remains, then one permute puts the keys in order.
// 46 operations instead of 16 separate reductions of about 8 each.
Value sum_lanes16(KB& k, Values v) {
  std::vector<std::vector<int>> keys;  // per vector, the key of each group of lanes
  for (int j = 0; j < 16; ++j) keys.push_back({j});
  for (int g = 16; g > 1; g /= 2) {
    Values next;
    std::vector<std::vector<int>> next_keys;
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
      llvm::SmallVector<int64_t> m1, m2;
      std::vector<int> nk;
      for (int slot = 0; slot < 16 / g; ++slot) {
        for (int x = 0; x < g / 2; ++x) {
          m1.push_back(slot * g + x);
          m2.push_back(slot * g + g / 2 + x);
        }
        for (int x = 0; x < g / 2; ++x) {
          m1.push_back(16 + slot * g + x);
          m2.push_back(16 + slot * g + g / 2 + x);
        }
        nk.push_back(keys[i][slot]);
        nk.push_back(keys[i + 1][slot]);
      }
      next.push_back(k.add(k.shuffle(v[i], v[i + 1], m1), k.shuffle(v[i], v[i + 1], m2)));
      next_keys.push_back(nk);
    }
    v = next;
    keys = next_keys;
  }
  llvm::SmallVector<int64_t> order(16);
  for (int lane = 0; lane < 16; ++lane) order[keys[0][lane]] = lane;
  return k.shuffle(v[0], v[0], order);
}

// Per query head h and token t: online softmax over the keys [0, pos + t] in blocks of 16 keys
// (running max m, running sum l, output accumulator rescaled when m grows), so no score buffer is
// needed whatever the context length.
void gen_attention_kernel(KB& k, KernelFn& fn, const KernelSpec& s) {
  const int64_t H = s.heads, KVH = s.kv_heads, D = s.head_dim;
  if (KVH <= 0 || H % KVH != 0) throw_internal("attention: heads must be a multiple of kv_heads");
  Value q = fn.view(0, k.f32), ck = fn.view(1, k.f32), cv = fn.view(2, k.f32), out = fn.view(3, k.f32);
  Value T = fn.T(), pos = fn.pos();
  const int64_t nc = (D + 15) / 16;  // 16-lane chunks of a head
  const int64_t tail = D % 16;
  Value tail_mask = tail ? k.lane_mask(k.ci(0), k.ci(tail), 16) : Value();
  Value zero = k.vconst_f(0, 16);
  auto chunk_mask = [&](int64_t c) { return (tail && c == nc - 1) ? tail_mask : Value(); };
  auto ld = [&](Value mem, Value at, int64_t c) {
    Value m = chunk_mask(c);
    return m ? k.vload_masked(mem, k.add(at, k.ci(16 * c)), m, zero) : k.vload(mem, k.add(at, k.ci(16 * c)), 16);
  };
  Value scale = k.cf(s.scale);

  // Tiles of 16 tokens for as much of T as they cover, then the rest token by token. Token by
  // token, the query heads of one kv head go together through each block of 16 keys, so the
  // block's K and V rows come from memory once and from L1 for the other heads; each head's running
  // max, sum and output stay in `state` between blocks.
  const int64_t R = H / KVH;  // query heads per kv head
  Value tiled = k.mul(k.b.create<mlir::arith::DivUIOp>(T, k.ci(16)), k.ci(16));
  Value qt = k.stack(k.f32, D * 16), ot = k.stack(k.f32, D * 16);
  const int64_t row = 16 * nc + 16;  // per head in `state`: m, l (lanes 0, 1 of the first 16), output
  Value state = k.stack(k.f32, R * row);
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value h) {
    Value g = k.b.create<mlir::arith::DivUIOp>(h, k.ci(R));
    k.for_(k.ci(0), tiled, k.ci(16), [&](Value t0) { attention_tile16(k, s, q, ck, cv, out, pos, h, g, t0, qt, ot); });
  });
  Value g_first = k.b.create<mlir::arith::DivUIOp>(fn.begin(), k.ci(R));
  Value g_end = k.b.create<mlir::arith::DivUIOp>(k.add(fn.end(), k.ci(R - 1)), k.ci(R));
  k.for_(g_first, g_end, k.ci(1), [&](Value g) {
    Value h_lo = k.max(fn.begin(), k.mul(g, k.ci(R))), h_hi = k.min(fn.end(), k.mul(k.add(g, k.ci(1)), k.ci(R)));
    k.for_(tiled, T, k.ci(1), [&](Value t) {
      Value n = k.add(k.add(pos, t), k.ci(1));  // keys 0 .. pos + t
      auto st_at = [&](Value h, int64_t off) { return k.add(k.mul(k.sub(h, h_lo), k.ci(row)), k.ci(off)); };
      k.for_(h_lo, h_hi, k.ci(1), [&](Value h) {
        Value mvec = k.insert(k.cf(-INFINITY), zero, 0);
        k.vstore(mvec, state, st_at(h, 0));
        for (int64_t c = 0; c < nc; ++c) k.vstore(zero, state, st_at(h, 16 + 16 * c));
      });
      k.for_(k.ci(0), n, k.ci(16), [&](Value j0) {
        Value kat[16];
        for (int j = 0; j < 16; ++j) {
          Value key = k.min(k.add(j0, k.ci(j)), k.sub(n, k.ci(1)));  // clamped: masked keys read a valid row
          kat[j] = k.mul(k.add(k.mul(key, k.ci(KVH)), g), k.ci(D));
        }
        Value valid = k.cmp(CmpIPredicate::slt, k.add(k.iota(16, k.i32), k.splat(k.from_index(j0, k.i32), 16)),
                            k.splat(k.from_index(n, k.i32), 16));
        k.for_(h_lo, h_hi, k.ci(1), [&](Value h) {
          Value qa = k.add(k.mul(t, k.ci(H * D)), k.mul(h, k.ci(D)));
          Values qv;
          for (int64_t c = 0; c < nc; ++c) qv.push_back(k.mul(ld(q, qa, c), k.splat(scale, 16)));
          // scores of the block's 16 keys: 16 partial vectors, summed across lanes all at once
          Values part;
          for (int j = 0; j < 16; ++j) {
            Value acc = k.mul(qv[0], ld(ck, kat[j], 0));
            for (int64_t c = 1; c < nc; ++c) acc = k.fma(qv[c], ld(ck, kat[j], c), acc);
            part.push_back(acc);
          }
          Value sc = k.select(valid, sum_lanes16(k, part), k.vconst_f(-INFINITY, 16));
          Value ml = k.vload(state, st_at(h, 0), 16);
          Value m = k.extract(ml, 0), l = k.extract(ml, 1);
          Value bmax = k.reduce_max(sc);
          Value m_new = k.select(k.cmpf(mlir::arith::CmpFPredicate::OGT, bmax, m), bmax, m);
          Value corr = k.exp(k.sub(m, m_new));
          Value p = k.exp(k.sub(sc, k.splat(m_new, 16)));
          Value l_new = k.fma(l, corr, k.reduce_add(p));
          k.vstore(k.insert(l_new, k.insert(m_new, zero, 0), 1), state, st_at(h, 0));
          Values acc;
          for (int64_t c = 0; c < nc; ++c) acc.push_back(k.mul(k.vload(state, st_at(h, 16 + 16 * c), 16), k.splat(corr, 16)));
          for (int j = 0; j < 16; ++j) {
            Value pj = k.splat(k.extract(p, j), 16);
            for (int64_t c = 0; c < nc; ++c) acc[c] = k.fma(pj, ld(cv, kat[j], c), acc[c]);
          }
          for (int64_t c = 0; c < nc; ++c) k.vstore(acc[c], state, st_at(h, 16 + 16 * c));
        });
      });
      k.for_(h_lo, h_hi, k.ci(1), [&](Value h) {
        Value qa = k.add(k.mul(t, k.ci(H * D)), k.mul(h, k.ci(D)));
        Value inv_l = k.splat(k.div(k.cf(1.0), k.extract(k.vload(state, st_at(h, 0), 16), 1)), 16);
        for (int64_t c = 0; c < nc; ++c) {
          Value o = k.mul(k.vload(state, st_at(h, 16 + 16 * c), 16), inv_l);
          Value at = k.add(qa, k.ci(16 * c));
          if (Value msk = chunk_mask(c)) k.vstore_masked(o, out, at, msk);
          else k.vstore(o, out, at);
        }
      });
    });
  });
}

}  // namespace

void gen_attention(KB& k, mlir::ModuleOp module, const KernelSpec& s) {
  if (s.head_dim <= 0 || s.head_dim % 2 != 0) throw_internal("rope/attention: head_dim must be even");
  if (s.kind == KernelKind::KvAppend && s.heads != 0)  // aprc.rope_qk_kv_append: the CPU lowering leaves q's rope apart
    throw_internal("cpu codegen: a kv_append that rotates q has no CPU kernel");
  if ((s.kind == KernelKind::KvAppend || s.kind == KernelKind::Attention) && s.cache_dtype != DType::F32)
    throw_internal(std::string("cpu codegen: the KV cache must be f32, not ") + dtype_name(s.cache_dtype));
  KernelFn fn(k, module, s.name());
  switch (s.kind) {
    case KernelKind::Rope:
      gen_rope(k, fn, s);
      break;
    case KernelKind::KvAppend:
      gen_kv_append(k, fn, s);
      break;
    case KernelKind::Attention:
      gen_attention_kernel(k, fn, s);
      break;
    default:
      throw_internal("gen_attention: not an attention kernel");
  }
  fn.finish();
}

}  // namespace aprc::cpu
